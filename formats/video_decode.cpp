// SPDX-License-Identifier: Apache-2.0
#include "formats/video_decode.h"

#include <algorithm>
#include <cctype>
#include <climits>
#include <cmath>
#include <cstdarg>
#include <filesystem>
#include <mutex>
#include <system_error>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/avutil.h>
#include <libavutil/display.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>
}

#include "core/errors.h"
#include "formats/image_io.h"

namespace fs = std::filesystem;

namespace sam3::formats {
namespace {

// FFmpeg logs its most telling messages ("moov atom not found") instead of
// returning them. Keep the last warning/error of the calling thread so our
// exceptions can quote it, and keep libav* quiet on stderr: the library's
// user decides what reaches the log, through the exceptions.
thread_local std::string t_last_av_message;

void av_log_sink(void* avcl, int level, const char* fmt, va_list vl) {
  if (level > AV_LOG_WARNING) return;
  char line[512];
  int print_prefix = 0;
  av_log_format_line2(avcl, level, fmt, vl, line, sizeof(line), &print_prefix);
  std::string s(line);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  if (!s.empty()) t_last_av_message = s;
}

void install_av_log_sink() {
  detail::install_ffmpeg_log_sink();
}

std::string av_error_text(int err) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {0};
  av_strerror(err, buf, sizeof(buf));
  std::string s(buf);
  if (!t_last_av_message.empty()) s += " (" + t_last_av_message + ")";
  return s;
}

[[noreturn]] void throw_av(const std::string& path, const std::string& what, int err) {
  throw InvalidInput("video '" + path + "': " + what + ": " + av_error_text(err));
}

struct FormatContext {
  AVFormatContext* p = nullptr;
  ~FormatContext() {
    if (p) avformat_close_input(&p);
  }
};

// Existence and emptiness checks give clearer messages than FFmpeg's.
void check_video_path(const std::string& path) {
  std::error_code ec;
  const auto st = fs::status(path, ec);
  if (ec || !fs::exists(st)) throw NotFound("video file '" + path + "' does not exist");
  if (fs::is_directory(st)) throw InvalidInput("video '" + path + "' is a folder, expected a video file");
  const auto size = fs::file_size(path, ec);
  if (ec) throw InvalidInput("video '" + path + "' cannot be read: " + ec.message());
  if (size == 0) throw InvalidInput("video file '" + path + "' is empty (0 bytes)");
}

// Opens the container and finds its video stream. Only the file protocol is
// allowed (also for files a playlist-style demuxer would open), so a path can
// never make the process reach the network.
int open_container(const std::string& path, FormatContext& fc, uint64_t max_pixels) {
  install_av_log_sink();
  check_video_path(path);
  t_last_av_message.clear();
  AVDictionary* opts = nullptr;
  av_dict_set(&opts, "protocol_whitelist", "file", 0);
  const std::string url = "file:" + path;  // "a:b.mp4" is a file, not protocol "a"
  int err = avformat_open_input(&fc.p, url.c_str(), nullptr, &opts);
  av_dict_free(&opts);
  if (err < 0) throw_av(path, "cannot open as a video", err);
  // Stream probing decodes a few frames; cap their size as the real decoder's
  // (a tiny file may declare 16384x16384 frames).
  const std::string cap = std::to_string(std::min<uint64_t>(max_pixels, INT64_MAX));
  std::vector<AVDictionary*> probe_opts(fc.p->nb_streams, nullptr);
  for (auto& d : probe_opts) av_dict_set(&d, "max_pixels", cap.c_str(), 0);
  err = avformat_find_stream_info(fc.p, probe_opts.empty() ? nullptr : probe_opts.data());
  for (auto& d : probe_opts) av_dict_free(&d);
  if (err < 0) throw_av(path, "cannot read stream information", err);
  // Cover art (an attached picture in an audio file) is not a video.
  auto is_video = [&](int i) {
    const AVStream* st = fc.p->streams[i];
    return st->codecpar->codec_type == AVMEDIA_TYPE_VIDEO && !(st->disposition & AV_DISPOSITION_ATTACHED_PIC);
  };
  int best = av_find_best_stream(fc.p, AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
  if (best >= 0 && !is_video(best)) best = -1;
  for (unsigned i = 0; best < 0 && i < fc.p->nb_streams; ++i)
    if (is_video(static_cast<int>(i))) best = static_cast<int>(i);
  if (best < 0) throw InvalidInput("video '" + path + "' holds no video stream");
  return best;
}

// Clockwise degrees to turn the coded frame for display (0/90/180/270), as
// the ffmpeg tool's autorotate reads them: the display matrix first, the
// legacy "rotate" tag otherwise. Other angles are ignored.
int stream_rotation(const AVStream* st) {
  double theta = 0.0;
  size_t size = 0;
  const uint8_t* sd = av_stream_get_side_data(st, AV_PKT_DATA_DISPLAYMATRIX, &size);
  if (sd && size >= 9 * sizeof(int32_t)) {
    theta = -av_display_rotation_get(reinterpret_cast<const int32_t*>(sd));
  } else if (const AVDictionaryEntry* tag = av_dict_get(st->metadata, "rotate", nullptr, 0)) {
    theta = std::atof(tag->value);
  }
  if (!std::isfinite(theta)) return 0;
  theta -= 360.0 * std::floor(theta / 360.0 + 0.9 / 360.0);
  for (int r : {0, 90, 180, 270, 360})
    if (std::fabs(theta - r) < 1.0) return r % 360;
  return 0;
}

double q2d_or_zero(AVRational r) {
  return (r.num > 0 && r.den > 0) ? av_q2d(r) : 0.0;
}

// Counts the stream's packets without decoding (containers without an index).
int64_t count_packets(AVFormatContext* fc, int stream_index) {
  AVPacket* pkt = av_packet_alloc();
  int64_t n = 0;
  while (av_read_frame(fc, pkt) >= 0) {
    if (pkt->stream_index == stream_index) ++n;
    av_packet_unref(pkt);
  }
  av_packet_free(&pkt);
  return n;
}

void check_size_limits(const std::string& path, const VideoInfo& info, const VideoOpenOptions& options) {
  const uint64_t pixels = static_cast<uint64_t>(info.width) * static_cast<uint64_t>(info.height);
  if (pixels > options.max_pixels)
    throw TooLarge("video '" + path + "' has frames of " + std::to_string(info.width) + "x" +
                   std::to_string(info.height) + " = " + std::to_string(pixels) + " pixels, over the limit of " +
                   std::to_string(options.max_pixels));
  if (info.total_frames > options.max_frames)
    throw TooLarge("video '" + path + "' has " + std::to_string(info.total_frames) + " frames, over the limit of " +
                   std::to_string(options.max_frames));
}

VideoInfo describe(const std::string& path, FormatContext& fc, int si, const VideoOpenOptions& options,
                   bool may_count) {
  const AVStream* st = fc.p->streams[si];
  const AVCodecParameters* par = st->codecpar;
  if (par->width <= 0 || par->height <= 0)
    throw InvalidInput("video '" + path + "': the video stream declares no frame size (" + std::to_string(par->width) +
                       "x" + std::to_string(par->height) + ")");
  VideoInfo info;
  info.path = path;
  info.codec = avcodec_get_name(par->codec_id);
  info.container = fc.p->iformat ? fc.p->iformat->name : "";
  info.rotation = stream_rotation(st);
  const bool swap = info.rotation == 90 || info.rotation == 270;
  info.width = swap ? par->height : par->width;
  info.height = swap ? par->width : par->height;

  if (st->duration != AV_NOPTS_VALUE && st->duration > 0)
    info.duration_seconds = static_cast<double>(st->duration) * av_q2d(st->time_base);
  else if (fc.p->duration != AV_NOPTS_VALUE && fc.p->duration > 0)
    info.duration_seconds = static_cast<double>(fc.p->duration) / AV_TIME_BASE;

  info.total_frames = st->nb_frames;
  if (info.total_frames <= 0 && may_count) info.total_frames = count_packets(fc.p, si);

  const double avg = q2d_or_zero(st->avg_frame_rate);
  const double real = q2d_or_zero(st->r_frame_rate);  // FFmpeg's guess of the base rate
  if (avg > 0.0)
    info.fps = avg;
  else if (info.total_frames > 0 && info.duration_seconds > 0.0)
    info.fps = info.total_frames / info.duration_seconds;
  else
    info.fps = real;
  if (info.duration_seconds <= 0.0 && info.fps > 0.0 && info.total_frames > 0)
    info.duration_seconds = info.total_frames / info.fps;
  if (info.total_frames <= 0 && info.fps > 0.0 && info.duration_seconds > 0.0)
    info.total_frames = std::llround(info.duration_seconds * info.fps);
  // The average rate differs from the base rate when frames are unevenly spaced.
  info.variable_frame_rate = avg > 0.0 && real > 0.0 && std::fabs(avg - real) > 0.01 * real;
  check_size_limits(path, info, options);
  return info;
}

// Turns an RGB image clockwise by 90, 180 or 270 degrees.
Image rotate_rgb(const Image& in, int rotation) {
  if (rotation == 0) return in;
  const int w = in.width, h = in.height;
  Image out;
  out.width = rotation == 180 ? w : h;
  out.height = rotation == 180 ? h : w;
  out.rgb.resize(in.rgb.size());
  for (int r = 0; r < out.height; ++r) {
    for (int c = 0; c < out.width; ++c) {
      int sr, sc;
      if (rotation == 90) {
        sr = h - 1 - c;
        sc = r;
      } else if (rotation == 180) {
        sr = h - 1 - r;
        sc = w - 1 - c;
      } else {
        sr = c;
        sc = w - 1 - r;
      }  // 270
      const uint8_t* s = &in.rgb[(static_cast<size_t>(sr) * w + sc) * 3];
      uint8_t* d = &out.rgb[(static_cast<size_t>(r) * out.width + c) * 3];
      d[0] = s[0];
      d[1] = s[1];
      d[2] = s[2];
    }
  }
  return out;
}

bool has_image_extension(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char ch) { return std::tolower(ch); });
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png" || ext == ".bmp" || ext == ".tif" || ext == ".tiff" ||
         ext == ".webp";
}

}  // namespace

void detail::install_ffmpeg_log_sink() {
  static std::once_flag once;
  std::call_once(once, [] { av_log_set_callback(av_log_sink); });
}

std::string detail::last_ffmpeg_message() {
  return t_last_av_message;
}

// ---------------------------------------------------------------- probe / reader

VideoInfo probe_video(const std::string& path, const VideoOpenOptions& options) {
  FormatContext fc;
  const int si = open_container(path, fc, options.max_pixels);
  return describe(path, fc, si, options, /*may_count=*/true);
}

struct VideoReader::Impl {
  VideoOpenOptions options;
  VideoInfo info;
  FormatContext fc;
  int si = -1;
  AVRational time_base{0, 1};
  int64_t start_pts = 0;
  int coded_w = 0, coded_h = 0;
  AVCodecContext* dec = nullptr;
  AVPacket* pkt = nullptr;
  AVFrame* frame = nullptr;
  SwsContext* sws = nullptr;
  bool flushing = false;
  bool done = false;
  int64_t yielded = 0;
  int64_t packets = 0;  // of the video stream, read so far
  int64_t indexed = 0;  // packets the container's index declares (0: unknown)
  int64_t last_pts = AV_NOPTS_VALUE;

  ~Impl() {
    sws_freeContext(sws);
    av_frame_free(&frame);
    av_packet_free(&pkt);
    avcodec_free_context(&dec);
  }

  [[noreturn]] void fail(const std::string& what, int err) const { throw_av(info.path, what, err); }

  // Converts the decoded frame to RGB at the coded size, then rotates it.
  Image to_rgb() {
    const auto fmt = static_cast<AVPixelFormat>(frame->format);
    sws = sws_getCachedContext(sws, frame->width, frame->height, fmt, coded_w, coded_h, AV_PIX_FMT_RGB24,
                               SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT, nullptr, nullptr, nullptr);
    if (!sws)
      throw InvalidInput("video '" + info.path + "': cannot convert pixel format " +
                         std::string(av_get_pix_fmt_name(fmt) ? av_get_pix_fmt_name(fmt) : "?") + " to RGB");
    // The stream's colour matrix and range (BT.601 when unspecified, as the
    // ffmpeg tool and OpenCV assume). Fails harmlessly for RGB sources.
    const int cs = frame->colorspace == AVCOL_SPC_UNSPECIFIED ? SWS_CS_DEFAULT : static_cast<int>(frame->colorspace);
    sws_setColorspaceDetails(sws, sws_getCoefficients(cs), frame->color_range == AVCOL_RANGE_JPEG,
                             sws_getCoefficients(SWS_CS_DEFAULT), 1, 0, 1 << 16, 1 << 16);
    Image img;
    img.width = coded_w;
    img.height = coded_h;
    img.rgb.resize(static_cast<size_t>(coded_w) * coded_h * 3);
    uint8_t* dst[4] = {img.rgb.data(), nullptr, nullptr, nullptr};
    int dst_stride[4] = {coded_w * 3, 0, 0, 0};
    const int rows = sws_scale(sws, frame->data, frame->linesize, 0, frame->height, dst, dst_stride);
    if (rows != coded_h)
      throw InvalidInput("video '" + info.path + "': pixel conversion of frame " + std::to_string(yielded) +
                         " failed: " + av_error_text(rows < 0 ? rows : AVERROR_INVALIDDATA));
    return rotate_rgb(img, info.rotation);
  }
};

VideoReader::VideoReader(const std::string& path, const VideoOpenOptions& options) : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.options = options;
  m.si = open_container(path, m.fc, options.max_pixels);
  // Containers without a frame count are counted on a second, throw-away
  // demuxer so this one stays at the start.
  const AVStream* st0 = m.fc.p->streams[m.si];
  m.info = st0->nb_frames > 0 ? describe(path, m.fc, m.si, options, false) : probe_video(path, options);

  AVStream* st = m.fc.p->streams[m.si];
  m.time_base = st->time_base;
  m.start_pts = st->start_time != AV_NOPTS_VALUE ? st->start_time : 0;
  m.coded_w = st->codecpar->width;
  m.coded_h = st->codecpar->height;
  // Only the MP4/MOV index is trusted as an exact packet count (AVI headers,
  // for one, are often wrong).
  if (m.info.container.find("mp4") != std::string::npos) m.indexed = st->nb_frames;
  // Only the video stream is demuxed for real.
  for (unsigned i = 0; i < m.fc.p->nb_streams; ++i)
    if (static_cast<int>(i) != m.si) m.fc.p->streams[i]->discard = AVDISCARD_ALL;

  const AVCodec* codec = avcodec_find_decoder(st->codecpar->codec_id);
  if (!codec)
    throw InvalidInput("video '" + path + "': no decoder for codec '" + m.info.codec + "' in this FFmpeg build");
  m.dec = avcodec_alloc_context3(codec);
  m.pkt = av_packet_alloc();
  m.frame = av_frame_alloc();
  if (!m.dec || !m.pkt || !m.frame) throw std::bad_alloc();
  int err = avcodec_parameters_to_context(m.dec, st->codecpar);
  if (err < 0) m.fail("bad codec parameters", err);
  m.dec->thread_count = std::max(0, options.decode_threads);
  m.dec->max_pixels = static_cast<int64_t>(std::min<uint64_t>(options.max_pixels, INT64_MAX));
  m.dec->pkt_timebase = st->time_base;
  err = avcodec_open2(m.dec, codec, nullptr);
  if (err < 0) m.fail("cannot open the " + m.info.codec + " decoder", err);
}

VideoReader::~VideoReader() = default;

const VideoInfo& VideoReader::info() const {
  return impl_->info;
}

bool VideoReader::next(VideoFrame& out) {
  Impl& m = *impl_;
  if (m.done) return false;
  t_last_av_message.clear();
  for (;;) {
    int err = avcodec_receive_frame(m.dec, m.frame);
    if (err == 0) {
      if (m.yielded >= m.options.max_frames)
        throw TooLarge("video '" + m.info.path + "' has more than " + std::to_string(m.options.max_frames) +
                       " frames (the limit)");
      int64_t pts = m.frame->best_effort_timestamp;
      if (pts == AV_NOPTS_VALUE) {
        // No timestamp: continue from the previous one at the average rate.
        const double step = m.info.fps > 0.0 ? 1.0 / (m.info.fps * av_q2d(m.time_base)) : 1.0;
        pts = m.last_pts == AV_NOPTS_VALUE ? m.start_pts : m.last_pts + std::llround(step);
      }
      m.last_pts = pts;
      out.index = m.yielded++;
      out.pts = pts;
      out.timestamp_seconds = static_cast<double>(pts - m.start_pts) * av_q2d(m.time_base);
      out.image = m.to_rgb();
      av_frame_unref(m.frame);
      return true;
    }
    if (err == AVERROR_EOF) {
      m.done = true;
      if (m.yielded == 0)
        throw InvalidInput("video '" + m.info.path + "' holds no decodable frame" +
                           (t_last_av_message.empty() ? "" : " (" + t_last_av_message + ")"));
      return false;
    }
    if (err != AVERROR(EAGAIN)) m.fail("cannot decode frame " + std::to_string(m.yielded), err);
    if (m.flushing) {  // EAGAIN while draining cannot happen; guard against a loop
      m.done = true;
      return false;
    }
    err = av_read_frame(m.fc.p, m.pkt);
    if (err == AVERROR_EOF) {
      // The MP4 demuxer ends quietly ("partial file" in its log) when the data
      // stops short of its index; a silently shorter video would shift every
      // later frame, so a truncated file is an error.
      if (m.indexed > 0 && m.packets < m.indexed)
        throw InvalidInput("video '" + m.info.path + "' is truncated: its index lists " + std::to_string(m.indexed) +
                           " frames, the data ends after " + std::to_string(m.packets) +
                           (t_last_av_message.empty() ? "" : " (" + t_last_av_message + ")"));
      m.flushing = true;
      avcodec_send_packet(m.dec, nullptr);
      continue;
    }
    if (err < 0) m.fail("cannot read the data after frame " + std::to_string(m.yielded), err);
    if (m.pkt->stream_index != m.si) {
      av_packet_unref(m.pkt);
      continue;
    }
    ++m.packets;
    err = avcodec_send_packet(m.dec, m.pkt);
    av_packet_unref(m.pkt);
    if (err < 0 && err != AVERROR(EAGAIN)) m.fail("corrupt data near frame " + std::to_string(m.yielded), err);
  }
}

// ---------------------------------------------------------------- image sequences

bool natural_less(const std::string& a, const std::string& b) {
  size_t i = 0, j = 0;
  auto digit = [](char ch) { return ch >= '0' && ch <= '9'; };
  while (i < a.size() && j < b.size()) {
    if (digit(a[i]) && digit(b[j])) {
      size_t ie = i, je = j;
      while (ie < a.size() && digit(a[ie])) ++ie;
      while (je < b.size() && digit(b[je])) ++je;
      size_t is = i, js = j;  // skip leading zeros, then compare by length and digits
      while (is + 1 < ie && a[is] == '0') ++is;
      while (js + 1 < je && b[js] == '0') ++js;
      if (ie - is != je - js) return ie - is < je - js;
      const int c = a.compare(is, ie - is, b, js, je - js);
      if (c != 0) return c < 0;
      i = ie;
      j = je;
    } else {
      if (a[i] != b[j]) return static_cast<unsigned char>(a[i]) < static_cast<unsigned char>(b[j]);
      ++i;
      ++j;
    }
  }
  if (i < a.size() || j < b.size()) return a.size() - i < b.size() - j;
  return a < b;  // equal by value ("1.jpg" vs "01.jpg"): a fixed, total order
}

bool is_frame_image_name(const std::string& name) {
  return has_image_extension(fs::path(name));
}

std::vector<std::string> list_frame_files(const std::string& folder) {
  std::error_code ec;
  if (!fs::is_directory(folder, ec)) throw NotFound("frame folder '" + folder + "' does not exist");
  std::vector<std::pair<std::string, std::string>> named;  // (file name, full path)
  for (const auto& entry : fs::directory_iterator(folder, ec)) {
    const std::string name = entry.path().filename().string();
    // Hidden files (".DS_Store", "._0001.jpg" from macOS archives) are not frames.
    if (name.empty() || name[0] == '.' || !has_image_extension(entry.path())) continue;
    std::error_code fec;
    if (!entry.is_regular_file(fec)) continue;
    named.emplace_back(name, entry.path().string());
  }
  if (ec) throw InvalidInput("frame folder '" + folder + "' cannot be listed: " + ec.message());
  std::sort(named.begin(), named.end(), [](const auto& x, const auto& y) { return natural_less(x.first, y.first); });
  std::vector<std::string> out;
  out.reserve(named.size());
  for (auto& n : named) out.push_back(std::move(n.second));
  return out;
}

ImageSequenceReader::ImageSequenceReader(const std::string& folder, const VideoOpenOptions& options)
    : files_(list_frame_files(folder)), options_(options) {
  if (files_.empty())
    throw InvalidInput("frame folder '" + folder +
                       "' holds no frame images (expected .jpg, .jpeg, .png, .bmp, .tif, .tiff or .webp files)");
  info_.container = "folder";
  init(folder);
}

ImageSequenceReader::ImageSequenceReader(std::vector<std::string> files, std::string label,
                                         const VideoOpenOptions& options)
    : files_(std::move(files)), options_(options) {
  if (files_.empty()) throw InvalidInput("image sequence '" + label + "' is empty");
  info_.container = files_.size() == 1 ? "image" : "list";
  init(label);
}

void ImageSequenceReader::init(const std::string& label) {
  if (static_cast<int64_t>(files_.size()) > options_.max_frames)
    throw TooLarge("'" + label + "' holds " + std::to_string(files_.size()) + " frames, over the limit of " +
                   std::to_string(options_.max_frames));
  info_.path = label;
  info_.codec = "images";
  info_.total_frames = static_cast<int64_t>(files_.size());
  info_.fps = options_.folder_fps > 0.0 ? options_.folder_fps : 30.0;
  info_.duration_seconds = static_cast<double>(info_.total_frames) / info_.fps;
  // The frame size is the first image's; keep its pixels for next().
  ImageLimits limits;
  limits.max_pixels = options_.max_pixels;
  first_ = read_image_file(files_[0], limits);
  info_.width = first_.width;
  info_.height = first_.height;
}

bool ImageSequenceReader::next(VideoFrame& frame) {
  if (next_ >= files_.size()) return false;
  ImageLimits limits;
  limits.max_pixels = options_.max_pixels;
  // The first image was decoded by the constructor already.
  Image img = next_ == 0 && !first_.rgb.empty() ? std::move(first_) : read_image_file(files_[next_], limits);
  first_ = Image{};
  if (img.width != info_.width || img.height != info_.height)
    throw InvalidInput("frame '" + files_[next_] + "' is " + std::to_string(img.width) + "x" +
                       std::to_string(img.height) + ", but the first frame is " + std::to_string(info_.width) + "x" +
                       std::to_string(info_.height) + "; every frame of a video must have the same size");
  frame.index = static_cast<int64_t>(next_);
  frame.pts = frame.index;
  frame.timestamp_seconds = static_cast<double>(frame.index) / info_.fps;
  frame.image = std::move(img);
  ++next_;
  return true;
}

std::unique_ptr<VideoSource> open_video_source(const std::string& path, const VideoOpenOptions& options) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) return std::make_unique<ImageSequenceReader>(path, options);
  if (!fs::exists(path, ec)) throw NotFound("video '" + path + "' does not exist");
  if (has_image_extension(fs::path(path)))
    return std::make_unique<ImageSequenceReader>(std::vector<std::string>{path}, path, options);
  return std::make_unique<VideoReader>(path, options);
}

}  // namespace sam3::formats
