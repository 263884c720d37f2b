// SPDX-License-Identifier: Apache-2.0
#include "formats/video_encode.h"

#include <unistd.h>
#include <algorithm>
#include <atomic>
#include <cmath>
#include <filesystem>
#include <system_error>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>
}

#include "core/errors.h"
#include "formats/image_io.h"
#include "formats/video_decode.h"

namespace fs = std::filesystem;

namespace sam3::formats {
namespace {

std::string av_error_text(int err) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {0};
  av_strerror(err, buf, sizeof(buf));
  std::string s(buf);
  const std::string detail = detail::last_ffmpeg_message();
  if (!detail.empty()) s += " (" + detail + ")";
  return s;
}

const AVCodec* find_encoder(const std::string& name) {
  if (name == "auto") {
    if (const AVCodec* c = avcodec_find_encoder_by_name("libx264")) return c;
    return avcodec_find_encoder_by_name("mpeg4");
  }
  if (name == "h264" || name == "libx264") return avcodec_find_encoder_by_name("libx264");
  if (name == "mpeg4") return avcodec_find_encoder_by_name("mpeg4");
  throw InvalidInput("video encoder '" + name + "' is not supported; expected auto, h264 (libx264) or mpeg4");
}

// A name no other writer (thread or process) uses, hidden, in the target's folder
// so that the final rename stays on one file system.
std::string temp_path_for(const std::string& path) {
  static std::atomic<uint64_t> counter{0};
  const fs::path target(path);
  std::string name = ".";  // (built with += : GCC 12 warns falsely on "." + string)
  name += target.filename().string();
  name += ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter.fetch_add(1));
  return (target.parent_path() / name).string();
}

}  // namespace

std::string default_video_encoder() {
  return avcodec_find_encoder_by_name("libx264") ? "libx264" : "mpeg4";
}

struct VideoWriter::Impl {
  std::string path, tmp_path;
  VideoEncodeOptions options;
  const AVCodec* codec = nullptr;
  AVFormatContext* oc = nullptr;
  AVStream* st = nullptr;
  AVCodecContext* enc = nullptr;
  AVFrame* yuv = nullptr;
  AVPacket* pkt = nullptr;
  SwsContext* sws = nullptr;
  int width = 0, height = 0;    // frames as given
  int enc_w = 0, enc_h = 0;     // padded to even
  std::vector<uint8_t> padded;  // RGB at enc_w x enc_h when padding is needed
  bool header_written = false;
  bool finished = false;
  int64_t frames = 0;
  std::string encoder;

  ~Impl() {
    sws_freeContext(sws);
    av_frame_free(&yuv);
    av_packet_free(&pkt);
    avcodec_free_context(&enc);
    if (oc) {
      if (oc->pb) avio_closep(&oc->pb);
      avformat_free_context(oc);
    }
    if (!finished && !tmp_path.empty()) {
      std::error_code ec;
      fs::remove(tmp_path, ec);  // best effort: nothing else can be done in a destructor
    }
  }

  [[noreturn]] void fail(const std::string& what, int err) const {
    throw Error("writing video '" + path + "': " + what + ": " + av_error_text(err));
  }

  void open_encoder(int w, int h) {
    width = w;
    height = h;
    enc_w = w + (w & 1);
    enc_h = h + (h & 1);
    enc = avcodec_alloc_context3(codec);
    if (!enc) throw std::bad_alloc();
    const AVRational rate = av_d2q(options.fps, 1 << 16);
    enc->width = enc_w;
    enc->height = enc_h;
    enc->pix_fmt = AV_PIX_FMT_YUV420P;
    enc->framerate = rate;
    enc->time_base = av_inv_q(rate);
    enc->thread_count = std::max(0, options.threads);
    // The conversion below is swscale's default BT.601 limited range; say so,
    // so players (and our decoder) convert back with the same matrix.
    enc->colorspace = AVCOL_SPC_SMPTE170M;
    enc->color_range = AVCOL_RANGE_MPEG;
    enc->color_primaries = AVCOL_PRI_SMPTE170M;
    enc->color_trc = AVCOL_TRC_SMPTE170M;
    if (encoder == "libx264") {
      av_opt_set(enc->priv_data, "crf", std::to_string(std::clamp(options.quality, 0, 51)).c_str(), 0);
      av_opt_set(enc->priv_data, "preset", "veryfast", 0);
    } else {
      // mpeg4 has no CRF: a fixed q-scale, CRF 20 -> q 4 (2 is best).
      enc->flags |= AV_CODEC_FLAG_QSCALE;
      enc->global_quality = FF_QP2LAMBDA * std::clamp(1 + options.quality / 6, 2, 31);
    }
    if (oc->oformat->flags & AVFMT_GLOBALHEADER) enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    int err = avcodec_open2(enc, codec, nullptr);
    if (err < 0) fail("cannot open the " + encoder + " encoder", err);
    st = avformat_new_stream(oc, nullptr);
    if (!st) throw std::bad_alloc();
    err = avcodec_parameters_from_context(st->codecpar, enc);
    if (err < 0) fail("bad encoder parameters", err);
    st->time_base = enc->time_base;
    st->avg_frame_rate = rate;
    AVDictionary* mux_opts = nullptr;
    // Index at the front, so a browser can play the file while it downloads.
    av_dict_set(&mux_opts, "movflags", "+faststart", 0);
    err = avformat_write_header(oc, &mux_opts);
    av_dict_free(&mux_opts);
    if (err < 0) fail("cannot write the header", err);
    header_written = true;

    yuv = av_frame_alloc();
    pkt = av_packet_alloc();
    if (!yuv || !pkt) throw std::bad_alloc();
    yuv->format = AV_PIX_FMT_YUV420P;
    yuv->width = enc_w;
    yuv->height = enc_h;
    err = av_frame_get_buffer(yuv, 0);
    if (err < 0) fail("cannot allocate a frame", err);
    sws = sws_getContext(enc_w, enc_h, AV_PIX_FMT_RGB24, enc_w, enc_h, AV_PIX_FMT_YUV420P,
                         SWS_BICUBIC | SWS_ACCURATE_RND, nullptr, nullptr, nullptr);
    if (!sws) throw Error("writing video '" + path + "': cannot set up the RGB to YUV conversion");
  }

  // Sends one frame (nullptr: flush) and writes every packet that comes out.
  void encode(const AVFrame* f) {
    int err = avcodec_send_frame(enc, f);
    if (err < 0) fail("encoding frame " + std::to_string(frames), err);
    for (;;) {
      err = avcodec_receive_packet(enc, pkt);
      if (err == AVERROR(EAGAIN) || err == AVERROR_EOF) return;
      if (err < 0) fail("encoding frame " + std::to_string(frames), err);
      av_packet_rescale_ts(pkt, enc->time_base, st->time_base);
      pkt->stream_index = st->index;
      err = av_interleaved_write_frame(oc, pkt);  // takes the packet's reference
      if (err < 0) fail("writing a packet", err);
    }
  }
};

VideoWriter::VideoWriter(const std::string& path, const VideoEncodeOptions& options) : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  detail::install_ffmpeg_log_sink();
  m.path = path;
  m.options = options;
  if (!(options.fps > 0.0) || !std::isfinite(options.fps) || options.fps > 1000.0)
    throw InvalidInput("video fps must be in (0, 1000], got " + std::to_string(options.fps));
  m.codec = find_encoder(options.codec);
  if (!m.codec)
    throw InvalidInput("video encoder '" + options.codec + "' is not available in this FFmpeg build (has " +
                       default_video_encoder() + ")");
  m.encoder = m.codec->name;
  const AVOutputFormat* ofmt = av_guess_format(nullptr, path.c_str(), nullptr);
  if (!ofmt)
    throw InvalidInput("cannot tell the video container from the file name '" + path + "'; use .mp4, .mov or .mkv");
  m.tmp_path = temp_path_for(path);
  // "file:" keeps a ':' in the folder name from reading as a protocol; the
  // muxer reopens this URL for +faststart.
  const std::string url = "file:" + m.tmp_path;
  int err = avformat_alloc_output_context2(&m.oc, ofmt, nullptr, url.c_str());
  if (err < 0 || !m.oc) throw Error("writing video '" + path + "': " + av_error_text(err));
  err = avio_open(&m.oc->pb, url.c_str(), AVIO_FLAG_WRITE);
  if (err < 0) {
    const std::string tmp = m.tmp_path;
    m.tmp_path.clear();  // nothing was created
    m.fail("cannot create '" + tmp + "'", err);
  }
}

VideoWriter::~VideoWriter() = default;

void VideoWriter::write(const Image& frame) {
  Impl& m = *impl_;
  if (m.finished) throw InvalidInput("writing video '" + m.path + "': write() after finish()");
  check_image(frame, "video frame");
  if (!m.enc) m.open_encoder(frame.width, frame.height);
  if (frame.width != m.width || frame.height != m.height)
    throw InvalidInput("writing video '" + m.path + "': frame " + std::to_string(m.frames) + " is " +
                       std::to_string(frame.width) + "x" + std::to_string(frame.height) + ", the first frame is " +
                       std::to_string(m.width) + "x" + std::to_string(m.height));
  const uint8_t* src = frame.rgb.data();
  if (m.enc_w != m.width || m.enc_h != m.height) {
    // Pad by repeating the last column / row.
    m.padded.resize(static_cast<size_t>(m.enc_w) * m.enc_h * 3);
    for (int r = 0; r < m.enc_h; ++r) {
      const uint8_t* row = frame.rgb.data() + static_cast<size_t>(std::min(r, m.height - 1)) * m.width * 3;
      uint8_t* d = m.padded.data() + static_cast<size_t>(r) * m.enc_w * 3;
      std::copy(row, row + static_cast<size_t>(m.width) * 3, d);
      if (m.enc_w != m.width) std::copy(row + (m.width - 1) * 3, row + m.width * 3, d + m.width * 3);
    }
    src = m.padded.data();
  }
  int err = av_frame_make_writable(m.yuv);
  if (err < 0) m.fail("cannot reuse the frame buffer", err);
  const uint8_t* in[4] = {src, nullptr, nullptr, nullptr};
  const int in_stride[4] = {m.enc_w * 3, 0, 0, 0};
  sws_scale(m.sws, in, in_stride, 0, m.enc_h, m.yuv->data, m.yuv->linesize);
  m.yuv->pts = m.frames;
  m.encode(m.yuv);
  ++m.frames;
}

void VideoWriter::finish() {
  Impl& m = *impl_;
  if (m.finished) return;
  if (m.frames == 0) throw InvalidInput("writing video '" + m.path + "': no frames were written");
  m.encode(nullptr);
  int err = av_write_trailer(m.oc);
  if (err < 0) m.fail("cannot finish the file", err);
  err = avio_closep(&m.oc->pb);
  if (err < 0) m.fail("cannot close the file", err);
  std::error_code ec;
  fs::rename(m.tmp_path, m.path, ec);
  if (ec) throw Error("writing video '" + m.path + "': cannot rename the temporary file into place: " + ec.message());
  m.finished = true;
}

int64_t VideoWriter::frames_written() const {
  return impl_->frames;
}

const std::string& VideoWriter::encoder_name() const {
  return impl_->encoder;
}

void write_video(const std::string& path, const std::vector<Image>& frames, const VideoEncodeOptions& options) {
  VideoWriter writer(path, options);
  for (const Image& f : frames) writer.write(f);
  writer.finish();
}

}  // namespace sam3::formats
