// SPDX-License-Identifier: Apache-2.0
#include "core/checkpoint/pt_zip.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>

#include <caffe2/serialize/inline_container.h>

#include "core/errors.h"

namespace sam3::core {
namespace {

namespace fs = std::filesystem;

// ---------------------------------------------------------------------------
// Storage type names as torch.save writes them (legacy typed-storage classes).
struct StorageName {
  const char* name;
  torch::ScalarType type;
};
constexpr StorageName kStorages[] = {
    {"FloatStorage", torch::kFloat32},         {"DoubleStorage", torch::kFloat64},
    {"HalfStorage", torch::kFloat16},          {"BFloat16Storage", torch::kBFloat16},
    {"ComplexFloatStorage", torch::kComplexFloat}, {"ComplexDoubleStorage", torch::kComplexDouble},
    {"LongStorage", torch::kInt64},            {"IntStorage", torch::kInt32},
    {"ShortStorage", torch::kInt16},           {"CharStorage", torch::kInt8},
    {"ByteStorage", torch::kUInt8},            {"BoolStorage", torch::kBool},
};

std::optional<torch::ScalarType> storage_dtype(const std::string& qualified) {
  // "torch.FloatStorage" (also accept "torch.storage.FloatStorage"-like forms).
  const auto dot = qualified.rfind('.');
  const std::string cls = dot == std::string::npos ? qualified : qualified.substr(dot + 1);
  for (const auto& s : kStorages)
    if (cls == s.name) return s.type;
  return std::nullopt;
}

const char* storage_name(torch::ScalarType t) {
  for (const auto& s : kStorages)
    if (s.type == t) return s.name;
  return nullptr;
}

// ---------------------------------------------------------------------------
// A Python object as far as a state-dict pickle needs one. Containers are
// shared_ptrs because the pickle memo aliases them and SETITEMS mutates in place.
struct PyObj;
using Obj = std::shared_ptr<PyObj>;

struct PyObj {
  enum class Kind { None, Bool, Int, Float, Str, Bytes, Tuple, List, Dict, Global, Storage, Tensor, Opaque };
  Kind kind = Kind::None;
  int64_t i = 0;
  double f = 0;
  std::string s;                            // Str/Bytes text; Global/Opaque qualified name; Storage key
  std::vector<Obj> items;                   // Tuple/List
  std::vector<std::pair<Obj, Obj>> dict;    // Dict, in insertion order
  torch::ScalarType dtype = torch::kFloat32;  // Storage and Tensor
  Obj storage;                              // Tensor
  int64_t offset = 0;                       // Tensor, in elements
  std::vector<int64_t> sizes, strides;      // Tensor
};

Obj make(PyObj::Kind k) {
  auto o = std::make_shared<PyObj>();
  o->kind = k;
  return o;
}
Obj make_str(PyObj::Kind k, std::string s) {
  auto o = make(k);
  o->s = std::move(s);
  return o;
}

// ---------------------------------------------------------------------------
// Unpickler for the opcodes of protocols 2..5 that state dicts use.
class Unpickler {
public:
  Unpickler(const std::string& file, const char* data, size_t size) : file_(file), p_(data), end_(data + size) {}

  Obj run() {
    while (true) {
      const uint8_t op = u8();
      switch (op) {
        case 0x80: u8(); break;                 // PROTO
        case 0x95: bytes(8); break;             // FRAME (length only)
        case '.': return pop();                 // STOP
        case '(': marks_.push_back(stack_.size()); break;
        case '}': push(make(PyObj::Kind::Dict)); break;
        case ']': push(make(PyObj::Kind::List)); break;
        case ')': push(make(PyObj::Kind::Tuple)); break;
        case 0x8f: push(make(PyObj::Kind::List)); break;  // EMPTY_SET (as a list)
        case 'N': push(make(PyObj::Kind::None)); break;
        case 0x88: push_bool(true); break;
        case 0x89: push_bool(false); break;
        case 'K': push_int(u8()); break;
        case 'M': push_int(uint_le(2)); break;
        case 'J': push_int(static_cast<int32_t>(uint_le(4))); break;
        case 0x8a: push_int(long_le(u8())); break;                       // LONG1
        case 0x8b: push_int(long_le(static_cast<size_t>(uint_le(4)))); break;  // LONG4
        case 'G': push_float(); break;
        case 'X': push(make_str(PyObj::Kind::Str, bytes(uint_le(4)))); break;
        case 0x8c: push(make_str(PyObj::Kind::Str, bytes(u8()))); break;
        case 0x8d: push(make_str(PyObj::Kind::Str, bytes(uint_le(8)))); break;
        case 'T': push(make_str(PyObj::Kind::Str, bytes(uint_le(4)))); break;
        case 'U': push(make_str(PyObj::Kind::Str, bytes(u8()))); break;
        case 'B': push(make_str(PyObj::Kind::Bytes, bytes(uint_le(4)))); break;
        case 'C': push(make_str(PyObj::Kind::Bytes, bytes(u8()))); break;
        case 0x8e: case 0x96: push(make_str(PyObj::Kind::Bytes, bytes(uint_le(8)))); break;
        case 'q': memo_put(u8()); break;
        case 'r': memo_put(uint_le(4)); break;
        case 0x94: memo_put(memo_.size()); break;  // MEMOIZE
        case 'h': memo_get(u8()); break;
        case 'j': memo_get(uint_le(4)); break;
        case 'c': {
          std::string mod = line(), name = line();
          push(make_str(PyObj::Kind::Global, mod + "." + name));
          break;
        }
        case 0x93: {  // STACK_GLOBAL
          Obj name = pop(), mod = pop();
          push(make_str(PyObj::Kind::Global, mod->s + "." + name->s));
          break;
        }
        case 't': { auto t = make(PyObj::Kind::Tuple); t->items = pop_mark(); push(t); break; }
        case 0x85: tuple_n(1); break;
        case 0x86: tuple_n(2); break;
        case 0x87: tuple_n(3); break;
        case 'l': { auto l = make(PyObj::Kind::List); l->items = pop_mark(); push(l); break; }
        case 'd': { auto d = make(PyObj::Kind::Dict); set_items(d, pop_mark()); push(d); break; }
        case 'a': { Obj v = pop(); top()->items.push_back(v); break; }
        case 'e': case 0x90: { auto v = pop_mark(); auto& dst = top()->items; dst.insert(dst.end(), v.begin(), v.end()); break; }
        case 's': { Obj v = pop(), k = pop(); set_items(top(), {k, v}); break; }
        case 'u': { auto v = pop_mark(); set_items(top(), v); break; }
        case 0x91: { auto l = make(PyObj::Kind::List); l->items = pop_mark(); push(l); break; }  // FROZENSET
        case 'R': { Obj args = pop(), fn = pop(); push(call(fn, args)); break; }
        case 0x81: { Obj args = pop(), cls = pop(); push(make_str(PyObj::Kind::Opaque, cls->s)); (void)args; break; }
        case 0x92: { pop(); pop(); Obj cls = pop(); push(make_str(PyObj::Kind::Opaque, cls->s)); break; }
        case 'b': pop(); break;  // BUILD: object state (OrderedDict._metadata etc.) is not needed
        case 'Q': { Obj pid = pop(); push(persistent(pid)); break; }
        case '0': pop(); break;
        case '1': pop_mark(); break;
        case '2': push(top()); break;
        default: fail("unsupported pickle opcode 0x" + hex(op));
      }
    }
  }

private:
  [[noreturn]] void fail(const std::string& what) const {
    throw ModelError("'" + file_ + "': cannot read the checkpoint pickle: " + what);
  }
  static std::string hex(uint8_t v) {
    char b[4];
    std::snprintf(b, sizeof b, "%02x", v);
    return b;
  }
  uint8_t u8() {
    if (p_ >= end_) fail("unexpected end of data.pkl");
    return static_cast<uint8_t>(*p_++);
  }
  std::string bytes(uint64_t n) {
    if (n > static_cast<uint64_t>(end_ - p_)) fail("string runs past the end of data.pkl");
    std::string s(p_, p_ + n);
    p_ += n;
    return s;
  }
  uint64_t uint_le(int n) {
    uint64_t v = 0;
    for (int k = 0; k < n; ++k) v |= static_cast<uint64_t>(u8()) << (8 * k);
    return v;
  }
  int64_t long_le(size_t n) {  // two's complement, little-endian
    if (n > 8) fail("integer wider than 64 bits");
    if (n == 0) return 0;
    uint64_t v = uint_le(static_cast<int>(n));
    if (n < 8 && (v >> (8 * n - 1)) & 1) v |= ~uint64_t{0} << (8 * n);
    return static_cast<int64_t>(v);
  }
  std::string line() {
    const char* nl = static_cast<const char*>(std::memchr(p_, '\n', end_ - p_));
    if (!nl) fail("unterminated GLOBAL");
    std::string s(p_, nl);
    p_ = nl + 1;
    return s;
  }
  void push(Obj o) { stack_.push_back(std::move(o)); }
  void push_bool(bool b) { auto o = make(PyObj::Kind::Bool); o->i = b; push(o); }
  void push_int(int64_t v) { auto o = make(PyObj::Kind::Int); o->i = v; push(o); }
  void push_float() {
    uint64_t bits = 0;
    for (int k = 0; k < 8; ++k) bits = (bits << 8) | u8();  // BINFLOAT is big-endian
    auto o = make(PyObj::Kind::Float);
    std::memcpy(&o->f, &bits, sizeof bits);
    push(o);
  }
  Obj pop() {
    if (stack_.empty() || (!marks_.empty() && stack_.size() <= marks_.back())) fail("stack underflow");
    Obj o = std::move(stack_.back());
    stack_.pop_back();
    return o;
  }
  Obj& top() {
    if (stack_.empty()) fail("stack underflow");
    return stack_.back();
  }
  std::vector<Obj> pop_mark() {
    if (marks_.empty()) fail("MARK expected");
    const size_t m = marks_.back();
    marks_.pop_back();
    std::vector<Obj> v(stack_.begin() + static_cast<std::ptrdiff_t>(m), stack_.end());
    stack_.resize(m);
    return v;
  }
  void tuple_n(size_t n) {
    auto t = make(PyObj::Kind::Tuple);
    t->items.resize(n);
    for (size_t k = n; k-- > 0;) t->items[k] = pop();
    push(t);
  }
  void set_items(const Obj& d, const std::vector<Obj>& kv) {
    if (d->kind != PyObj::Kind::Dict) {
      if (d->kind == PyObj::Kind::Opaque) return;  // e.g. a custom mapping class: contents unused
      fail("SETITEM(S) on a non-dict");
    }
    if (kv.size() % 2) fail("odd number of SETITEMS operands");
    for (size_t k = 0; k < kv.size(); k += 2) d->dict.emplace_back(kv[k], kv[k + 1]);
  }
  void memo_put(uint64_t idx) { memo_[idx] = top(); }
  void memo_get(uint64_t idx) {
    auto it = memo_.find(idx);
    if (it == memo_.end()) fail("memo entry " + std::to_string(idx) + " is missing");
    push(it->second);
  }

  std::vector<int64_t> int_tuple(const Obj& t, const char* what) {
    if (t->kind != PyObj::Kind::Tuple && t->kind != PyObj::Kind::List) fail(std::string(what) + " is not a tuple");
    std::vector<int64_t> v;
    for (const auto& e : t->items) {
      if (e->kind != PyObj::Kind::Int) fail(std::string(what) + " holds a non-integer");
      v.push_back(e->i);
    }
    return v;
  }

  // ('storage', storage_type, key, location, numel)
  Obj persistent(const Obj& pid) {
    if (pid->kind != PyObj::Kind::Tuple || pid->items.size() < 3 || pid->items[0]->s != "storage")
      fail("unsupported persistent id (expected a 'storage' tuple)");
    const Obj& type = pid->items[1];
    auto dt = storage_dtype(type->s);
    if (!dt) fail("unsupported storage type '" + type->s + "'");
    auto st = make_str(PyObj::Kind::Storage, pid->items[2]->s);
    st->dtype = *dt;
    return st;
  }

  Obj call(const Obj& fn, const Obj& args) {
    if (fn->kind != PyObj::Kind::Global) return make_str(PyObj::Kind::Opaque, "call");
    const std::string& name = fn->s;
    const auto& a = args->items;
    if (name == "torch._utils._rebuild_tensor_v2" || name == "torch._utils._rebuild_tensor") {
      if (a.size() < 4 || a[0]->kind != PyObj::Kind::Storage || a[1]->kind != PyObj::Kind::Int)
        fail(name + ": unexpected arguments");
      auto t = make(PyObj::Kind::Tensor);
      t->storage = a[0];
      t->dtype = a[0]->dtype;
      t->offset = a[1]->i;
      t->sizes = int_tuple(a[2], "tensor size");
      t->strides = int_tuple(a[3], "tensor stride");
      if (t->sizes.size() != t->strides.size()) fail(name + ": size and stride ranks differ");
      return t;
    }
    if (name == "torch._utils._rebuild_parameter" || name == "torch._utils._rebuild_parameter_with_state") {
      if (a.empty()) fail(name + ": no arguments");
      return a[0];
    }
    if (name == "torch._tensor._rebuild_from_type_v2" || name == "torch._tensor._rebuild_from_type") {
      if (a.size() < 3) fail(name + ": unexpected arguments");
      return call(a[0], a[2]);
    }
    if (name == "collections.OrderedDict" || name == "builtins.dict" || name == "__builtin__.dict") {
      auto d = make(PyObj::Kind::Dict);
      if (!a.empty() && (a[0]->kind == PyObj::Kind::List || a[0]->kind == PyObj::Kind::Tuple))
        for (const auto& kv : a[0]->items)
          if (kv->items.size() == 2) d->dict.emplace_back(kv->items[0], kv->items[1]);
      return d;
    }
    return make_str(PyObj::Kind::Opaque, name);  // unknown objects only fail if a tensor needs them
  }

  std::string file_;
  const char* p_;
  const char* end_;
  std::vector<Obj> stack_;
  std::vector<size_t> marks_;
  std::map<uint64_t, Obj> memo_;
};

// ---------------------------------------------------------------------------

[[noreturn]] void rethrow_as_model_error(const std::string& path, const char* what) {
  std::string msg = what;
  if (auto nl = msg.find('\n'); nl != std::string::npos) msg.resize(nl);  // drop LibTorch's backtrace
  throw ModelError("'" + path + "' is not a readable PyTorch zip checkpoint: " + msg);
}

void check_exists(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw NotFound("checkpoint '" + path + "' does not exist");
  if (fs::is_directory(path, ec)) throw ModelError("checkpoint '" + path + "' is a directory, not a file");
}

// The state dict: top level, or its "model"/"state_dict" entry, flattened.
void collect(const Obj& d, const std::string& prefix, std::vector<std::pair<std::string, Obj>>& out) {
  for (const auto& [k, v] : d->dict) {
    if (k->kind != PyObj::Kind::Str) continue;
    if (v->kind == PyObj::Kind::Tensor) out.emplace_back(prefix + k->s, v);
    else if (v->kind == PyObj::Kind::Dict) collect(v, prefix + k->s + ".", out);
  }
}

struct ParsedPt {
  std::unique_ptr<caffe2::serialize::PyTorchStreamReader> reader;
  std::vector<std::pair<std::string, Obj>> tensors;
};

ParsedPt parse_pt(const std::string& path) {
  check_exists(path);
  if (!is_zip_file(path))
    throw ModelError("'" + path + "' is not a PyTorch zip checkpoint (no zip signature; legacy non-zip torch.save files are not supported)");
  ParsedPt r;
  at::DataPtr pkl;
  size_t pkl_size = 0;
  try {
    r.reader = std::make_unique<caffe2::serialize::PyTorchStreamReader>(path);
    if (!r.reader->hasRecord("data.pkl")) throw ModelError("'" + path + "' has no data.pkl record: not a torch.save archive");
    if (r.reader->hasRecord("byteorder")) {
      auto [bo, n] = r.reader->getRecord("byteorder");
      if (std::string(static_cast<const char*>(bo.get()), n) != "little")
        throw ModelError("'" + path + "' stores big-endian tensors, which are not supported");
    }
    std::tie(pkl, pkl_size) = r.reader->getRecord("data.pkl");
  } catch (const c10::Error& e) {
    rethrow_as_model_error(path, e.what_without_backtrace());
  }
  Unpickler up(path, static_cast<const char*>(pkl.get()), pkl_size);
  Obj root = up.run();
  if (root->kind != PyObj::Kind::Dict) throw ModelError("'" + path + "' does not hold a dict (a state dict was expected)");
  Obj sd = root;
  for (const auto& [k, v] : root->dict)
    if (k->kind == PyObj::Kind::Str && (k->s == "model" || k->s == "state_dict") && v->kind == PyObj::Kind::Dict) {
      sd = v;
      break;
    }
  collect(sd, "", r.tensors);
  if (r.tensors.empty()) throw ModelError("'" + path + "' holds no tensors");
  return r;
}

}  // namespace

bool is_zip_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char m[4] = {};
  if (!in.read(m, 4)) return false;
  return m[0] == 'P' && m[1] == 'K' && ((m[2] == 3 && m[3] == 4) || (m[2] == 5 && m[3] == 6));
}

std::vector<PtTensorInfo> read_pt_index(const std::string& path) {
  auto parsed = parse_pt(path);
  std::vector<PtTensorInfo> out;
  for (const auto& [name, t] : parsed.tensors) out.push_back({name, t->dtype, t->sizes});
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return out;
}

TensorMap load_pt(const std::string& path) {
  auto parsed = parse_pt(path);
  std::map<std::string, c10::Storage> storages;  // by record key: views share one storage
  TensorMap out;
  for (const auto& [name, t] : parsed.tensors) {
    const std::string& key = t->storage->s;
    auto it = storages.find(key);
    if (it == storages.end()) {
      try {
        auto [data, nbytes] = parsed.reader->getRecord("data/" + key);
        c10::Storage st(c10::Storage::use_byte_size_t(), nbytes, std::move(data), nullptr, false);
        it = storages.emplace(key, std::move(st)).first;
      } catch (const c10::Error& e) {
        rethrow_as_model_error(path, e.what_without_backtrace());
      }
    }
    const size_t esize = c10::elementSize(t->dtype);
    const int64_t numel = static_cast<int64_t>(it->second.nbytes() / esize);
    int64_t extent = t->offset;  // last element touched + 1
    bool empty = false;
    for (size_t d = 0; d < t->sizes.size(); ++d) {
      if (t->sizes[d] < 0 || t->strides[d] < 0)
        throw ModelError("'" + path + "': tensor '" + name + "' has a negative size or stride");
      if (t->sizes[d] == 0) empty = true;
      else extent += (t->sizes[d] - 1) * t->strides[d];
    }
    if (!empty && (t->offset < 0 || extent + 1 > numel))
      throw ModelError("'" + path + "': tensor '" + name + "' reads past its storage record data/" + key + " (" +
                       std::to_string(numel) + " elements)");
    auto tensor = torch::empty({0}, torch::TensorOptions().dtype(t->dtype));
    tensor.set_(it->second, t->offset, t->sizes, t->strides);
    out.emplace(name, std::move(tensor));
  }
  return out;
}

namespace {

// Pickle writer for the subset save_pt emits (protocol 2, as torch.save).
class PickleWriter {
public:
  std::string out;
  void op(char c) { out.push_back(c); }
  void str(const std::string& s) {
    op('X');
    le(s.size(), 4);
    out += s;
  }
  void global(const char* mod, const char* name) {
    op('c');
    out += mod;
    out += '\n';
    out += name;
    out += '\n';
  }
  void integer(int64_t v) {
    if (v >= 0 && v < 256) {
      op('K');
      le(static_cast<uint64_t>(v), 1);
    } else if (v >= 0 && v < 65536) {
      op('M');
      le(static_cast<uint64_t>(v), 2);
    } else if (v >= INT32_MIN && v <= INT32_MAX) {
      op('J');
      le(static_cast<uint64_t>(static_cast<uint32_t>(static_cast<int32_t>(v))), 4);
    } else {
      op('\x8a');
      le(8, 1);
      le(static_cast<uint64_t>(v), 8);
    }
  }
  void int_tuple(c10::IntArrayRef v) {
    if (v.empty()) return op(')');
    op('(');
    for (auto x : v) integer(x);
    op('t');
  }

private:
  void le(uint64_t v, int n) {
    for (int k = 0; k < n; ++k) out.push_back(static_cast<char>((v >> (8 * k)) & 0xff));
  }
};

}  // namespace

void save_pt(const std::string& path, const TensorMap& tensors, const std::string& wrap_key) {
  std::vector<torch::Tensor> data;
  PickleWriter w;
  w.op('\x80');
  w.op('\x02');
  w.op('}');
  if (!wrap_key.empty()) {
    w.str(wrap_key);
    w.op('}');
  }
  w.op('(');
  for (const auto& [name, t0] : tensors) {
    torch::Tensor t = t0.detach().to(torch::kCPU).contiguous();
    const char* sname = storage_name(t.scalar_type());
    if (!sname) throw ModelError("save_pt: tensor '" + name + "' has dtype " + std::string(c10::toString(t.scalar_type())) + ", which torch.save storages cannot hold here");
    w.str(name);
    w.global("torch._utils", "_rebuild_tensor_v2");
    w.op('(');
    w.op('(');
    w.str("storage");
    w.global("torch", sname);
    w.str(std::to_string(data.size()));
    w.str("cpu");
    w.integer(t.numel());
    w.op('t');
    w.op('Q');  // BINPERSID
    w.integer(0);
    w.int_tuple(t.sizes());
    w.int_tuple(t.strides());
    w.op('\x89');  // requires_grad = False
    w.global("collections", "OrderedDict");
    w.op(')');
    w.op('R');
    w.op('t');
    w.op('R');
    data.push_back(std::move(t));
  }
  w.op('u');
  if (!wrap_key.empty()) w.op('s');
  w.op('.');

  const fs::path target(path);
  const fs::path tmp = target.parent_path() / (target.filename().string() + ".tmp." + std::to_string(::getpid()));
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) throw ModelError("cannot create '" + tmp.string() + "': " + std::strerror(errno));
  bool io_error = false;
  try {
    caffe2::serialize::PyTorchStreamWriter writer([&](const void* buf, size_t n) -> size_t {
      const size_t k = std::fwrite(buf, 1, n, f);
      if (k != n) io_error = true;
      return k;
    });
    writer.writeRecord("data.pkl", w.out.data(), w.out.size());
    for (size_t k = 0; k < data.size(); ++k)
      writer.writeRecord("data/" + std::to_string(k), data[k].data_ptr(), data[k].nbytes());
    writer.writeEndOfFile();
  } catch (const c10::Error& e) {
    std::fclose(f);
    std::remove(tmp.c_str());
    std::string msg = e.what_without_backtrace();
    if (auto nl = msg.find('\n'); nl != std::string::npos) msg.resize(nl);
    throw ModelError("cannot write '" + path + "': " + msg);
  }
  if (std::fflush(f) != 0 || ::fsync(fileno(f)) != 0) io_error = true;
  if (std::fclose(f) != 0) io_error = true;
  if (io_error) {
    std::remove(tmp.c_str());
    throw ModelError("cannot write '" + path + "': I/O error (disk full?)");
  }
  std::error_code ec;
  fs::rename(tmp, target, ec);
  if (ec) {
    std::remove(tmp.c_str());
    throw ModelError("cannot rename '" + tmp.string() + "' to '" + path + "': " + ec.message());
  }
}

}  // namespace sam3::core
