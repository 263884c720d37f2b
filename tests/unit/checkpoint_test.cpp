// SPDX-License-Identifier: Apache-2.0
// PyTorch zip checkpoints (pt_zip) and the transformers layout (hf_layout).
#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "core/checkpoint/hf_layout.h"
#include "core/checkpoint/model_files.h"
#include "core/checkpoint/pt_zip.h"
#include "core/errors.h"
#include "test_util.h"

namespace sam3::core {
namespace {

using test::TempDir;

TensorMap sample_tensors() {
  TensorMap m;
  m["a.weight"] = torch::arange(12, torch::kFloat32).reshape({3, 4});
  m["b.bf16"] = torch::arange(6, torch::kFloat32).reshape({2, 3}).to(torch::kBFloat16);
  m["c.half"] = torch::arange(5, torch::kFloat32).to(torch::kFloat16);
  m["d.attn.freqs_cis"] = torch::polar(torch::ones({4, 3}), torch::arange(12, torch::kFloat32).reshape({4, 3}));
  m["e.transposed"] = torch::arange(12, torch::kFloat32).reshape({3, 4}).t();
  m["f.scalar"] = torch::tensor(7.5f);
  m["g.empty"] = torch::zeros({0, 3});
  m["h.long"] = torch::arange(3, torch::kInt64) - 1;
  m["i.bool"] = torch::tensor({true, false});
  return m;
}

void expect_same(const TensorMap& want, const TensorMap& got) {
  ASSERT_EQ(want.size(), got.size());
  for (const auto& [k, t] : want) {
    auto it = got.find(k);
    ASSERT_NE(it, got.end()) << k;
    EXPECT_EQ(it->second.scalar_type(), t.scalar_type()) << k;
    EXPECT_EQ(it->second.sizes(), t.sizes()) << k;
    EXPECT_TRUE(torch::equal(it->second, t)) << k;
  }
}

TEST(PtZip, RoundTripKeepsValuesDtypesAndShapes) {
  TempDir tmp;
  const auto m = sample_tensors();
  for (const std::string wrap : {"", "model"}) {
    const auto path = tmp.file("x" + wrap + ".pt");
    save_pt(path, m, wrap);
    EXPECT_TRUE(is_zip_file(path));
    expect_same(m, load_pt(path));
  }
  // No temp file is left behind by the atomic write.
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(tmp.path())) files += e.is_regular_file();
  EXPECT_EQ(files, 2);
}

TEST(PtZip, IndexReadsShapesWithoutData) {
  TempDir tmp;
  const auto path = tmp.file("x.pt");
  save_pt(path, sample_tensors(), "model");
  const auto index = read_pt_index(path);
  ASSERT_EQ(index.size(), 9u);
  EXPECT_EQ(index[0].name, "a.weight");
  EXPECT_EQ(index[0].shape, (std::vector<int64_t>{3, 4}));
  EXPECT_EQ(index[3].name, "d.attn.freqs_cis");
  EXPECT_EQ(index[3].dtype, torch::kComplexFloat);
}

TEST(PtZip, ErrorsNameTheFile) {
  TempDir tmp;
  EXPECT_THROW(load_pt(tmp.file("absent.pt")), NotFound);

  const auto text = tmp.file("text.pt");
  test::write_file(text, "this is not a zip archive at all");
  try {
    load_pt(text);
    FAIL() << "expected ModelError";
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << e.what();
  }

  const auto good = tmp.file("good.pt");
  save_pt(good, sample_tensors(), "model");
  const std::string bytes = test::read_file(good);
  const auto truncated = tmp.file("truncated.pt");
  test::write_file(truncated, bytes.substr(0, bytes.size() / 2));
  try {
    load_pt(truncated);
    FAIL() << "expected ModelError";
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find(truncated), std::string::npos) << e.what();
  }

  // A damaged pickle and a damaged zip directory. (Storage bytes carry no
  // checksum LibTorch verifies, as with torch.load.)
  std::string bad_pickle = bytes;
  const auto pkl = bad_pickle.find(std::string("\x80\x02}", 3));
  ASSERT_NE(pkl, std::string::npos);
  bad_pickle[pkl + 2] = '\xff';
  test::write_file(tmp.file("bad_pickle.pt"), bad_pickle);
  EXPECT_THROW(load_pt(tmp.file("bad_pickle.pt")), ModelError);
  std::string bad_dir = bytes;
  const auto eocd = bad_dir.rfind(std::string("PK\x05\x06", 4));
  ASSERT_NE(eocd, std::string::npos);
  for (size_t i = eocd; i < bad_dir.size(); ++i) bad_dir[i] = 0;
  test::write_file(tmp.file("bad_dir.pt"), bad_dir);
  EXPECT_THROW(load_pt(tmp.file("bad_dir.pt")), ModelError);
}

TEST(PtZip, ReadsAndWritesPythonTorchSaveFiles) {
  TempDir tmp;
  const auto from_python = tmp.file("py.pt");
  const auto from_cpp = tmp.file("cpp.pt");
  save_pt(from_cpp, sample_tensors(), "model");
  // The reference layout: {"model": state_dict} with one-entry dicts (SETITEM), an
  // OrderedDict with _metadata (BUILD), views with a storage offset, shared storages,
  // a Parameter, complex64, bf16 and fp16.
  const std::string script = R"PY(
import sys
try:
    import torch
except ImportError:
    sys.exit(77)
lin = torch.nn.Linear(2, 3)
with torch.no_grad():
    lin.weight.copy_(torch.arange(6.).reshape(3, 2)); lin.bias.copy_(torch.arange(3.))
sd = lin.state_dict()
base = torch.arange(10.)
sd['v.view'] = base[2:8].view(2, 3)
sd['v.shared'] = base
sd['t.transposed'] = torch.arange(12.).reshape(3, 4).t()
sd['c.freqs_cis'] = torch.complex(torch.arange(6.), -torch.arange(6.)).reshape(2, 3)
sd['b.bf16'] = torch.arange(4.).bfloat16()
sd['h.half'] = torch.arange(5.).half()
sd['p.param'] = torch.nn.Parameter(torch.ones(2))
torch.save({'model': sd}, sys.argv[1])
d = torch.load(sys.argv[2], weights_only=True)['model']
assert torch.equal(d['a.weight'], torch.arange(12.).reshape(3, 4))
assert d['b.bf16'].dtype == torch.bfloat16 and d['d.attn.freqs_cis'].dtype == torch.complex64
assert torch.equal(d['e.transposed'], torch.arange(12.).reshape(3, 4).t())
assert d['f.scalar'].item() == 7.5 and tuple(d['g.empty'].shape) == (0, 3)
)PY";
  const auto script_path = tmp.file("interop.py");
  test::write_file(script_path, script);
  // The first python3 that has torch runs it (exit 77: no torch there).
  int status = -1;
  std::string cmd;
  for (const char* py : {"python3", "/usr/bin/python3"}) {
    cmd = std::string(py) + " '" + script_path + "' '" + from_python + "' '" + from_cpp + "' 2>&1";
    status = std::system(cmd.c_str());
    if (!(WIFEXITED(status) && WEXITSTATUS(status) == 77) && !(WIFEXITED(status) && WEXITSTATUS(status) == 127)) break;
  }
  if (WIFEXITED(status) && (WEXITSTATUS(status) == 77 || WEXITSTATUS(status) == 127))
    GTEST_SKIP() << "python3 with torch is not available: the torch.save interop case is skipped";
  ASSERT_EQ(status, 0) << "python side failed: " << cmd;

  const auto m = load_pt(from_python);
  ASSERT_EQ(m.size(), 9u);
  EXPECT_TRUE(torch::equal(m.at("weight"), torch::arange(6, torch::kFloat32).reshape({3, 2})));
  EXPECT_TRUE(torch::equal(m.at("bias"), torch::arange(3, torch::kFloat32)));
  EXPECT_TRUE(torch::equal(m.at("v.view"), torch::arange(2, 8, torch::kFloat32).reshape({2, 3})));
  EXPECT_TRUE(torch::equal(m.at("v.shared"), torch::arange(10, torch::kFloat32)));
  EXPECT_TRUE(torch::equal(m.at("t.transposed"), torch::arange(12, torch::kFloat32).reshape({3, 4}).t()));
  const auto c = m.at("c.freqs_cis");
  EXPECT_EQ(c.scalar_type(), torch::kComplexFloat);
  EXPECT_TRUE(torch::equal(torch::view_as_real(c).select(-1, 1), -torch::arange(6, torch::kFloat32).reshape({2, 3})));
  EXPECT_EQ(m.at("b.bf16").scalar_type(), torch::kBFloat16);
  EXPECT_EQ(m.at("h.half").scalar_type(), torch::kFloat16);
  EXPECT_TRUE(torch::equal(m.at("p.param"), torch::ones({2})));
}

// ---- transformers layout -------------------------------------------------------

TEST(HfLayout, NamesFollowTheTransformersConversion) {
  // Pairs produced by transformers' convert_sam3_video_to_hf.py key mapping.
  const std::vector<std::pair<std::string, std::string>> pairs = {
      {"detector.backbone.vision_backbone.trunk.blocks.3.attn.proj.weight",
       "detector_model.vision_encoder.backbone.layers.3.attention.o_proj.weight"},
      {"detector.backbone.vision_backbone.convs.1.dconv_2x2.weight",
       "detector_model.vision_encoder.neck.fpn_layers.1.scale_layers.0.weight"},
      {"detector.backbone.vision_backbone.convs.0.dconv_2x2_1.bias",
       "detector_model.vision_encoder.neck.fpn_layers.0.scale_layers.2.bias"},
      {"detector.backbone.vision_backbone.sam2_convs.2.conv_3x3.weight", "tracker_neck.fpn_layers.2.proj2.weight"},
      {"detector.backbone.language_backbone.encoder.transformer.resblocks.5.attn.out_proj.weight",
       "detector_model.text_encoder.text_model.encoder.layers.5.self_attn.out_proj.weight"},
      {"detector.backbone.language_backbone.resizer.bias", "detector_model.text_projection.bias"},
      {"detector.geometry_encoder.encode.1.cross_attn_image.out_proj.bias",
       "detector_model.geometry_encoder.layers.1.cross_attn.o_proj.bias"},
      {"detector.transformer.decoder.layers.2.catext_norm.weight",
       "detector_model.detr_decoder.layers.2.text_cross_attn_layer_norm.weight"},
      {"detector.transformer.decoder.boxRPB_embed_y.layers.1.weight",
       "detector_model.detr_decoder.box_rpb_embed_y.layer2.weight"},
      {"detector.segmentation_head.mask_predictor.mask_embed.layers.2.bias",
       "detector_model.mask_decoder.mask_embedder.layers.2.bias"},
      {"detector.dot_prod_scoring.hs_proj.weight", "detector_model.dot_product_scoring.query_proj.weight"},
      {"tracker.sam_mask_decoder.output_hypernetworks_mlps.2.layers.1.weight",
       "tracker_model.mask_decoder.output_hypernetworks_mlps.2.layers.0.weight"},
      {"tracker.maskmem_backbone.mask_downsampler.encoder.10.bias",
       "tracker_model.memory_encoder.mask_downsampler.layers.3.layer_norm.bias"},
      {"tracker.sam_mask_decoder.transformer.layers.1.norm4.weight",
       "tracker_model.mask_decoder.transformer.layers.1.layer_norm4.weight"},
      {"tracker.maskmem_backbone.fuser.layers.1.gamma", "tracker_model.memory_encoder.memory_fuser.layers.1.scale"},
      {"tracker.transformer.encoder.layers.3.cross_attn_image.k_proj.weight",
       "tracker_model.memory_attention.layers.3.cross_attn_image.k_proj.weight"},
      {"tracker.obj_ptr_proj.layers.2.bias", "tracker_model.object_pointer_proj.proj_out.bias"},
  };
  for (const auto& [official, hf] : pairs) {
    EXPECT_EQ(official_to_hf_names(official), std::vector<std::string>{hf}) << official;
  }
  EXPECT_EQ(official_to_hf_names("detector.transformer.decoder.layers.0.ca_text.in_proj_bias"),
            (std::vector<std::string>{"detector_model.detr_decoder.layers.0.text_cross_attn.q_proj.bias",
                                      "detector_model.detr_decoder.layers.0.text_cross_attn.k_proj.bias",
                                      "detector_model.detr_decoder.layers.0.text_cross_attn.v_proj.bias"}));
  EXPECT_TRUE(official_to_hf_names("detector.backbone.vision_backbone.trunk.blocks.0.attn.freqs_cis").empty());
  EXPECT_TRUE(official_to_hf_names("detector.geometry_encoder.points_pool_project.weight").empty());
  EXPECT_TRUE(official_to_hf_names("detector.something_new.weight").empty());
}

// A small official state dict with every kind of tensor change.
TensorMap small_official() {
  TensorMap m;
  auto r = [](std::vector<int64_t> s) { return torch::randn(s); };
  const std::string vit = "detector.backbone.vision_backbone.trunk.";
  m[vit + "pos_embed"] = r({1, 5, 8});
  m[vit + "patch_embed.proj.weight"] = r({8, 3, 2, 2});
  m[vit + "blocks.0.attn.qkv.weight"] = r({24, 8});
  m[vit + "blocks.0.attn.qkv.bias"] = r({24});
  m[vit + "blocks.0.attn.freqs_cis"] = r({4, 2, 2});
  m[vit + "blocks.0.norm1.weight"] = r({8});
  const std::string neck = "detector.backbone.vision_backbone.";
  m[neck + "convs.0.dconv_2x2_0.weight"] = r({8, 4, 2, 2});
  m[neck + "convs.0.dconv_2x2_1.weight"] = r({4, 2, 2, 2});
  m[neck + "convs.1.dconv_2x2.weight"] = r({8, 4, 2, 2});
  m[neck + "sam2_convs.1.dconv_2x2.bias"] = r({4});
  const std::string text = "detector.backbone.language_backbone.encoder.";
  m[text + "text_projection"] = r({8, 5});
  m[text + "transformer.resblocks.0.attn.in_proj_weight"] = r({24, 8});
  m[text + "transformer.resblocks.0.attn.out_proj.weight"] = r({8, 8});
  m["detector.geometry_encoder.final_proj.weight"] = r({6, 6});
  m["detector.geometry_encoder.points_direct_project.weight"] = torch::zeros({6, 2});
  m["detector.geometry_encoder.points_direct_project.bias"] = torch::zeros({6});
  m["detector.geometry_encoder.points_pool_project.weight"] = torch::zeros({6, 6});
  m["detector.geometry_encoder.points_pool_project.bias"] = torch::zeros({6});
  m["detector.geometry_encoder.points_pos_enc_project.weight"] = torch::zeros({6, 6});
  m["detector.geometry_encoder.points_pos_enc_project.bias"] = torch::zeros({6});
  m["detector.transformer.decoder.layers.0.cross_attn.in_proj_bias"] = r({18});
  for (int i = 0; i < 4; ++i) m["tracker.sam_prompt_encoder.point_embeddings." + std::to_string(i) + ".weight"] = r({1, 6});
  m["tracker.sam_prompt_encoder.pe_layer.positional_encoding_gaussian_matrix"] = r({2, 3});
  m["tracker.sam_mask_decoder.transformer.layers.0.self_attn.q_proj.weight"] = r({6, 6});
  return m;
}

TEST(HfLayout, RoundTripUndoesEveryTensorChange) {
  torch::manual_seed(3);
  const TensorMap official = small_official();
  std::vector<std::string> unmapped;
  const TensorMap hf = official_to_hf(official, &unmapped);
  EXPECT_TRUE(unmapped.empty());
  EXPECT_TRUE(looks_like_hf(hf));
  EXPECT_FALSE(looks_like_hf(official));

  // The layout changes themselves.
  EXPECT_EQ(hf.at("detector_model.vision_encoder.backbone.embeddings.position_embeddings").sizes(),
            (std::vector<int64_t>{1, 4, 8}));
  EXPECT_EQ(hf.at("detector_model.text_encoder.text_projection.weight").sizes(), (std::vector<int64_t>{5, 8}));
  EXPECT_TRUE(torch::equal(hf.at("detector_model.vision_encoder.backbone.layers.0.attention.k_proj.weight"),
                           official.at("detector.backbone.vision_backbone.trunk.blocks.0.attn.qkv.weight").slice(0, 8, 16)));
  EXPECT_EQ(hf.at("tracker_model.prompt_encoder.point_embed.weight").sizes(), (std::vector<int64_t>{4, 6}));
  EXPECT_TRUE(hf.count("tracker_model.shared_image_embedding.positional_embedding"));
  for (const auto& [k, t] : hf) {
    EXPECT_EQ(k.find("freqs_cis"), std::string::npos) << k;
    EXPECT_EQ(k.find("points_"), std::string::npos) << k;
  }

  const TensorMap back = hf_to_official(hf, &unmapped);
  EXPECT_TRUE(unmapped.empty());
  for (const auto& [k, t] : official) {
    if (k.find("freqs_cis") != std::string::npos) {
      EXPECT_FALSE(back.count(k)) << "HF files carry no RoPE tables: " << k;
      continue;
    }
    ASSERT_TRUE(back.count(k)) << k;
    auto got = back.at(k);
    if (k.find("pos_embed") != std::string::npos) {
      EXPECT_TRUE(torch::equal(got.slice(1, 1), t.slice(1, 1)));
      EXPECT_EQ(got.slice(1, 0, 1).abs().max().item<float>(), 0.f) << "the cls row is rebuilt as zeros";
      continue;
    }
    EXPECT_TRUE(torch::equal(got, t)) << k;
  }
  EXPECT_EQ(back.size(), official.size() - 1);  // all but freqs_cis
}

TEST(HfLayout, ImageOnlyCheckpointsAndIncompleteTriples) {
  torch::manual_seed(4);
  TensorMap hf;
  hf["vision_encoder.backbone.layers.0.attention.q_proj.weight"] = torch::randn({4, 4});
  hf["vision_encoder.backbone.layers.0.attention.k_proj.weight"] = torch::randn({4, 4});
  hf["vision_encoder.backbone.layers.0.attention.v_proj.weight"] = torch::randn({4, 4});
  hf["detr_decoder.query_embed.weight"] = torch::randn({3, 4});
  hf["some_future_module.weight"] = torch::randn({2});
  EXPECT_TRUE(looks_like_hf(hf));
  std::vector<std::string> unmapped;
  const auto off = hf_to_official(hf, &unmapped);
  EXPECT_EQ(off.at("detector.backbone.vision_backbone.trunk.blocks.0.attn.qkv.weight").sizes(),
            (std::vector<int64_t>{12, 4}));
  EXPECT_TRUE(off.count("detector.transformer.decoder.query_embed.weight"));
  EXPECT_EQ(unmapped, std::vector<std::string>{"detector_model.some_future_module.weight"});

  hf.erase("vision_encoder.backbone.layers.0.attention.v_proj.weight");
  EXPECT_THROW(hf_to_official(hf), ModelError);
}

// Every official key of the full checkpoint maps to distinct HF names and back.
TEST(HfLayout, FullManifestKeysRoundTrip) {
  SAM3_REQUIRE_GOLDEN();
  const auto keys = manifest_keys(test::golden_dir() + "/full_manifest.json");
  ASSERT_EQ(keys.size(), 1465u);
  // Tiny shapes that keep what the layout needs: q/k/v rows divisible by 3.
  auto small = [](int64_t d) -> int64_t { return d <= 2 ? d : (d % 3 == 0 ? 6 : 4); };
  TensorMap official;
  int64_t n = 0;
  for (const auto& k : keys) {
    std::vector<int64_t> s;
    for (auto d : k.shape) s.push_back(small(d));
    const bool points = k.name.find("geometry_encoder.points_") != std::string::npos;
    official[k.name] = points ? torch::zeros(s) : torch::arange(n, n + c10::multiply_integers(s), torch::kFloat32).reshape(s);
    n += c10::multiply_integers(s);
  }
  // points_* are sized from final_proj [d, d]: keep them consistent with it.
  std::vector<std::string> unmapped;
  const auto hf = official_to_hf(official, &unmapped);
  EXPECT_TRUE(unmapped.empty()) << unmapped.front();
  std::set<std::string> names;
  for (const auto& k : keys)
    for (const auto& h : official_to_hf_names(k.name)) EXPECT_TRUE(names.insert(h).second) << "duplicate HF name " << h;
  const auto back = hf_to_official(hf, &unmapped);
  EXPECT_TRUE(unmapped.empty()) << unmapped.front();
  size_t compared = 0;
  for (const auto& [k, t] : official) {
    if (k.find("freqs_cis") != std::string::npos) continue;
    ASSERT_TRUE(back.count(k)) << k;
    if (k.find("pos_embed") != std::string::npos) continue;
    EXPECT_TRUE(torch::equal(back.at(k), t)) << k;
    ++compared;
  }
  EXPECT_EQ(back.size(), 1465u - 32u);
  std::cout << "[ hf round trip ] " << compared << " tensors identical, " << hf.size() << " HF tensors\n";
}

// Optional: compare every name with a {official: [hf...]} JSON dumped from
// transformers' conversion script (set SAM3_HF_MAPPING_JSON to its path).
TEST(HfLayout, MatchesReferenceMappingFileWhenGiven) {
  const char* path = std::getenv("SAM3_HF_MAPPING_JSON");
  if (!path) GTEST_SKIP() << "SAM3_HF_MAPPING_JSON not set";
  std::ifstream in(path);
  ASSERT_TRUE(in) << path;
  const auto j = nlohmann::json::parse(in);
  size_t checked = 0;
  for (const auto& [official, hf] : j.items()) {
    auto want = hf.get<std::vector<std::string>>();
    if (official.find("freqs_cis") != std::string::npos || official.find("points_") != std::string::npos) continue;
    EXPECT_EQ(official_to_hf_names(official), want) << official;
    ++checked;
  }
  std::cout << "[ hf mapping ] " << checked << " names checked against " << path << "\n";
}

}  // namespace
}  // namespace sam3::core
