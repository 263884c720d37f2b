// SPDX-License-Identifier: Apache-2.0
#include "core/checkpoint/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/errors.h"

namespace sam3::core {
namespace {

struct DtypeName {
  const char* name;
  torch::ScalarType type;
};
constexpr DtypeName kDtypes[] = {
    {"F32", torch::kFloat32}, {"F16", torch::kFloat16}, {"BF16", torch::kBFloat16},
    {"F64", torch::kFloat64}, {"I64", torch::kInt64},   {"I32", torch::kInt32},
    {"I16", torch::kInt16},   {"I8", torch::kInt8},     {"U8", torch::kUInt8},
    {"BOOL", torch::kBool},
};

torch::ScalarType dtype_from_name(const std::string& n, const std::string& tensor) {
  for (const auto& d : kDtypes)
    if (n == d.name) return d.type;
  throw ModelError("safetensors: tensor '" + tensor + "' has unsupported dtype '" + n + "'");
}

const char* dtype_to_name(torch::ScalarType t) {
  for (const auto& d : kDtypes)
    if (t == d.type) return d.name;
  throw ModelError(std::string("safetensors: cannot write dtype ") + c10::toString(t));
}

}  // namespace

SafeTensorsFile::SafeTensorsFile(const std::string& path) : path_(path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) throw NotFound("checkpoint '" + path + "' does not exist");
    throw ModelError("cannot open '" + path + "': " + std::strerror(errno));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    throw ModelError("cannot stat '" + path + "'");
  }
  const size_t size = static_cast<size_t>(st.st_size);
  if (size < 8) {
    ::close(fd);
    throw ModelError("'" + path + "' is not a safetensors file (" + std::to_string(size) + " bytes)");
  }
  void* p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (p == MAP_FAILED) throw ModelError("cannot map '" + path + "': " + std::strerror(errno));
  mapping_ = std::shared_ptr<void>(p, [size](void* q) { ::munmap(q, size); });
  const auto* bytes = static_cast<const unsigned char*>(p);

  uint64_t hlen = 0;
  for (int i = 7; i >= 0; --i) hlen = (hlen << 8) | bytes[i];
  if (hlen > size - 8) throw ModelError("'" + path + "': safetensors header length " + std::to_string(hlen) + " exceeds the file size");
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(reinterpret_cast<const char*>(bytes) + 8,
                                   reinterpret_cast<const char*>(bytes) + 8 + hlen);
  } catch (const nlohmann::json::exception& e) {
    throw ModelError("'" + path + "': bad safetensors header: " + e.what());
  }
  if (!header.is_object()) throw ModelError("'" + path + "': safetensors header is not an object");
  data_ = reinterpret_cast<const char*>(bytes) + 8 + hlen;
  const size_t data_size = size - 8 - hlen;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") {
      for (auto m = it->begin(); m != it->end(); ++m)
        if (m->is_string()) metadata_[m.key()] = m->get<std::string>();
      continue;
    }
    try {
      Entry e;
      e.dtype = dtype_from_name(it->at("dtype").get<std::string>(), it.key());
      e.shape = it->at("shape").get<std::vector<int64_t>>();
      const auto off = it->at("data_offsets").get<std::vector<size_t>>();
      if (off.size() != 2 || off[0] > off[1] || off[1] > data_size)
        throw ModelError("'" + path + "': tensor '" + it.key() + "' has data offsets outside the file");
      int64_t numel = 1;
      for (auto d : e.shape) {
        if (d < 0) throw ModelError("'" + path + "': tensor '" + it.key() + "' has a negative dimension");
        numel *= d;
      }
      if (static_cast<size_t>(numel) * c10::elementSize(e.dtype) != off[1] - off[0])
        throw ModelError("'" + path + "': tensor '" + it.key() + "' byte size does not match its shape");
      e.begin = off[0];
      e.end = off[1];
      entries_.emplace(it.key(), std::move(e));
    } catch (const nlohmann::json::exception& ex) {
      throw ModelError("'" + path + "': bad entry for '" + it.key() + "': " + ex.what());
    }
  }
}

std::vector<std::string> SafeTensorsFile::names() const {
  std::vector<std::string> out;
  out.reserve(entries_.size());
  for (const auto& [k, v] : entries_) out.push_back(k);
  return out;
}

bool SafeTensorsFile::contains(const std::string& name) const { return entries_.count(name) != 0; }

std::vector<int64_t> SafeTensorsFile::shape(const std::string& name) const {
  auto it = entries_.find(name);
  if (it == entries_.end()) throw NotFound("tensor '" + name + "' is not in '" + path_ + "'");
  return it->second.shape;
}

torch::Tensor SafeTensorsFile::get(const std::string& name) const {
  auto it = entries_.find(name);
  if (it == entries_.end()) throw NotFound("tensor '" + name + "' is not in '" + path_ + "'");
  const Entry& e = it->second;
  auto keep = mapping_;
  // from_blob needs a non-const pointer; the mapping is read-only and callers
  // copy before writing (the loader copies into module parameters).
  void* ptr = const_cast<char*>(data_ + e.begin);
  if (e.end == e.begin) return torch::empty(e.shape, torch::TensorOptions().dtype(e.dtype));
  if (reinterpret_cast<uintptr_t>(ptr) % c10::elementSize(e.dtype) != 0) {
    // Misaligned data (legal in the format): copy instead of viewing.
    auto t = torch::empty(e.shape, torch::TensorOptions().dtype(e.dtype));
    std::memcpy(t.data_ptr(), ptr, e.end - e.begin);
    return t;
  }
  return torch::from_blob(ptr, e.shape, [keep](void*) mutable { keep.reset(); },
                          torch::TensorOptions().dtype(e.dtype));
}

TensorMap load_safetensors(const std::string& path) {
  SafeTensorsFile f(path);
  TensorMap out;
  for (const auto& n : f.names()) out.emplace(n, f.get(n));
  return out;
}

void save_safetensors(const std::string& path, const TensorMap& tensors,
                      const std::map<std::string, std::string>& metadata) {
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<torch::Tensor> ordered;
  size_t offset = 0;
  for (const auto& [name, t0] : tensors) {
    auto t = t0.detach().to(torch::kCPU).contiguous();
    const size_t nbytes = static_cast<size_t>(t.numel()) * t.element_size();
    header[name] = {{"dtype", dtype_to_name(t.scalar_type())},
                    {"shape", t.sizes().vec()},
                    {"data_offsets", {offset, offset + nbytes}}};
    offset += nbytes;
    ordered.push_back(t);
  }
  std::string h = header.dump();
  while ((h.size() + 8) % 8 != 0) h.push_back(' ');  // keep the data 8-byte aligned
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw ModelError("cannot write '" + tmp + "'");
    uint64_t n = h.size();
    unsigned char len[8];
    for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>((n >> (8 * i)) & 0xff);
    out.write(reinterpret_cast<const char*>(len), 8);
    out.write(h.data(), static_cast<std::streamsize>(h.size()));
    for (const auto& t : ordered)
      out.write(static_cast<const char*>(t.data_ptr()), static_cast<std::streamsize>(t.numel() * t.element_size()));
    out.flush();
    if (!out) {
      std::remove(tmp.c_str());
      throw ModelError("short write to '" + tmp + "'");
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw ModelError("cannot rename '" + tmp + "' to '" + path + "': " + std::strerror(errno));
  }
}

}  // namespace sam3::core
