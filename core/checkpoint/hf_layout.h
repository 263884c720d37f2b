// SPDX-License-Identifier: Apache-2.0
// The Hugging Face transformers layout of SAM 3 (`model.safetensors` +
// `config.json` of facebook/sam3) and its mapping to the official `sam3.pt`
// names (`detector.*`, `tracker.*`), following transformers'
// convert_sam3_video_to_hf.py (see docs in the port spec, section 3.5):
//
//   official (sam3.pt)                          transformers
//   detector.<image model key>                  detector_model.<renamed key>
//   detector.backbone.vision_backbone.sam2_convs tracker_neck.fpn_layers (top level)
//   tracker.<tracker key>                       tracker_model.<renamed key>
//
// Tensor changes besides renaming (official -> HF; hf_to_official undoes them):
//   - ViT attn.qkv and every MultiheadAttention in_proj_{weight,bias} are split
//     into q_proj/k_proj/v_proj (chunk 3 along dim 0); concatenated back.
//   - trunk.pos_embed [1, 1+P, C] loses its cls row; hf_to_official puts back a
//     zero row (the reference drops that row at inference).
//   - text encoder text_projection [W, D] is transposed to [D, W].
//   - trunk.blocks.N.attn.freqs_cis (RoPE tables) are not stored by HF: they are
//     absent after hf_to_official (modules compute them; loaders must tolerate
//     their absence).
//   - geometry_encoder.points_* have no slot in transformers: dropped; zeros of
//     the right shapes are synthesised by hf_to_official (the image path never
//     reads them).
//   - tracker sam_prompt_encoder.point_embeddings.{0..3}.weight [1, C] are one
//     point_embed.weight [4, C]; HF also duplicates the prompt encoder's
//     gaussian matrix as shared_image_embedding.positional_embedding (dropped
//     when mapping back).
// An image-only Sam3Model checkpoint (keys without the detector_model. prefix)
// is accepted too.
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <vector>

#include "core/checkpoint/safetensors.h"  // TensorMap

namespace sam3::core {

// True when the names are transformers' (detector_model.*, tracker_model.*,
// tracker_neck.* or an image-only Sam3Model's vision_encoder.* / detr_decoder.*),
// false for official names. \throws nothing.
bool looks_like_hf(const TensorMap& tensors);

// Maps a transformers SAM 3 state dict to the official names and tensor layout.
// Keys no rule knows (and HF-only duplicates) are left out; when `unmapped` is
// given their names are appended to it.
// \throws ModelError when a q/k/v triple is incomplete or shapes contradict the layout.
TensorMap hf_to_official(const TensorMap& hf, std::vector<std::string>* unmapped = nullptr);

// The inverse: official names (detector.* / tracker.*) to the transformers
// layout. freqs_cis and geometry_encoder.points_* are dropped (as in the hub
// file). Keys outside the known modules are appended to `unmapped` and left out.
TensorMap official_to_hf(const TensorMap& official, std::vector<std::string>* unmapped = nullptr);

// Name-level mapping of one official key (after the qkv/in_proj split the HF
// side has three names for one official tensor: the q/k/v names are returned).
// Empty when the key has no HF counterpart (freqs_cis, points_*) or is unknown.
std::vector<std::string> official_to_hf_names(const std::string& official_key);

}  // namespace sam3::core
