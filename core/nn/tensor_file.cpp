#include "nn/tensor_file.h"

#include "util/atomic_file.h"

#include <caffe2/serialize/inline_container.h>
#include <torch/script.h>
#include <torch/serialize.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <unordered_map>

namespace lumen::nn {
namespace {

// --- A small pickle machine for torch.save() archives ------------------------------------
// Why not torch::pickle_load: LibTorch 1.13's unpickler turns every collections.OrderedDict
// into None (it only expects them as a tensor's empty backward hooks), so the most common
// file of all, torch.save(model.state_dict()), fails to load. This reader understands the
// opcodes torch.save emits (protocol 2, plus the protocol 3/4 ones for files written with a
// higher pickle_protocol), rebuilds tensors from the archive's storage records, and keeps
// anything else it meets (pathlib paths, argparse namespaces...) as an opaque value.

struct PyValue;
using PyRef = std::shared_ptr<PyValue>;

struct PyValue {
    enum class Kind { None, Bool, Int, Float, Str, Bytes, Tuple, List, Dict, Global, Tensor, Opaque };
    Kind kind = Kind::None;
    bool boolean = false;
    std::int64_t integer = 0;
    double real = 0;
    std::string text;                              // Str, Bytes, Global ("module.name")
    std::vector<PyRef> items;                      // Tuple, List
    std::vector<std::pair<PyRef, PyRef>> entries;  // Dict
    torch::Tensor tensor;
};

PyRef make(PyValue::Kind kind) {
    auto v = std::make_shared<PyValue>();
    v->kind = kind;
    return v;
}

c10::ScalarType storageDtype(const std::string& global, const std::string& file) {
    static const std::unordered_map<std::string, c10::ScalarType> types = {
        {"torch.FloatStorage", torch::kFloat},
        {"torch.DoubleStorage", torch::kDouble},
        {"torch.HalfStorage", torch::kHalf},
        {"torch.BFloat16Storage", torch::kBFloat16},
        {"torch.LongStorage", torch::kLong},
        {"torch.IntStorage", torch::kInt},
        {"torch.ShortStorage", torch::kShort},
        {"torch.CharStorage", torch::kChar},
        {"torch.ByteStorage", torch::kByte},
        {"torch.BoolStorage", torch::kBool},
        {"torch.ComplexFloatStorage", torch::kComplexFloat},
        {"torch.ComplexDoubleStorage", torch::kComplexDouble},
    };
    const auto it = types.find(global);
    if (it == types.end()) throw std::runtime_error(file + ": unsupported tensor storage type " + global);
    return it->second;
}

class TorchArchiveReader {
public:
    TorchArchiveReader(caffe2::serialize::PyTorchStreamReader& zip, std::string file)
        : zip_(zip), file_(std::move(file)) {}

    PyRef load() {
        auto [ptr, size] = zip_.getRecord("data.pkl");
        data_ = static_cast<const unsigned char*>(ptr.get());
        size_ = size;
        keepAlive_ = std::move(ptr);
        pos_ = 0;
        return run();
    }

private:
    [[noreturn]] void fail(const std::string& what) const {
        throw std::runtime_error(file_ + ": cannot read the torch.save pickle (" + what + " at byte " +
                                 std::to_string(pos_) + ")");
    }
    const unsigned char* take(std::size_t n) {
        if (pos_ + n > size_) fail("truncated");
        const unsigned char* p = data_ + pos_;
        pos_ += n;
        return p;
    }
    std::uint64_t readLE(std::size_t n) {
        const unsigned char* p = take(n);
        std::uint64_t v = 0;
        for (std::size_t i = 0; i < n; ++i) v |= std::uint64_t(p[i]) << (8 * i);
        return v;
    }
    std::string readString(std::size_t n) {
        const unsigned char* p = take(n);
        return std::string(reinterpret_cast<const char*>(p), n);
    }
    std::string readLine() {
        std::string s;
        while (true) {
            const char c = static_cast<char>(*take(1));
            if (c == '\n') return s;
            s += c;
        }
    }
    PyRef pop() {
        if (stack_.empty() || (!marks_.empty() && stack_.size() <= marks_.back())) fail("stack underflow");
        PyRef v = std::move(stack_.back());
        stack_.pop_back();
        return v;
    }
    std::vector<PyRef> popToMark() {
        if (marks_.empty()) fail("missing MARK");
        const std::size_t m = marks_.back();
        marks_.pop_back();
        std::vector<PyRef> out(std::make_move_iterator(stack_.begin() + static_cast<std::ptrdiff_t>(m)),
                               std::make_move_iterator(stack_.end()));
        stack_.resize(m);
        return out;
    }
    PyRef& top() {
        if (stack_.empty()) fail("empty stack");
        return stack_.back();
    }
    static std::int64_t asInt(const PyRef& v) {
        if (v->kind == PyValue::Kind::Int) return v->integer;
        if (v->kind == PyValue::Kind::Bool) return v->boolean ? 1 : 0;
        throw std::runtime_error("expected an integer");
    }
    static std::vector<std::int64_t> asInts(const PyRef& v) {
        std::vector<std::int64_t> out;
        for (const auto& item : v->items) out.push_back(asInt(item));
        return out;
    }

    PyRef persistentLoad(const PyRef& pid) {
        // ('storage', <storage type global>, key, location, numel)
        if (pid->kind != PyValue::Kind::Tuple || pid->items.size() < 3 || pid->items[0]->text != "storage")
            fail("unknown persistent id");
        const std::string key = pid->items[2]->text;
        auto it = storages_.find(key);
        if (it == storages_.end()) {
            const c10::ScalarType dtype = storageDtype(pid->items[1]->text, file_);
            const std::string record = "data/" + key;
            if (!zip_.hasRecord(record)) fail("missing storage record " + record);
            auto [ptr, bytes] = zip_.getRecord(record);
            const auto elem = static_cast<std::int64_t>(c10::elementSize(dtype));
            torch::Tensor storage = torch::empty({static_cast<std::int64_t>(bytes) / elem}, torch::dtype(dtype));
            if (bytes) std::memcpy(storage.data_ptr(), ptr.get(), bytes);
            it = storages_.emplace(key, storage).first;
        }
        PyRef v = make(PyValue::Kind::Tensor);
        v->tensor = it->second;
        return v;
    }

    PyRef call(const PyRef& func, const PyRef& args) {
        const std::string& name = func->text;
        if (func->kind == PyValue::Kind::Global) {
            if (name == "torch._utils._rebuild_tensor_v2" || name == "torch._utils._rebuild_tensor") {
                // (storage, storage_offset, size, stride, ...)
                if (args->items.size() < 4 || args->items[0]->kind != PyValue::Kind::Tensor) fail("bad tensor record");
                PyRef v = make(PyValue::Kind::Tensor);
                v->tensor = args->items[0]->tensor.as_strided(asInts(args->items[2]), asInts(args->items[3]),
                                                              asInt(args->items[1]));
                return v;
            }
            if (name == "torch._utils._rebuild_parameter" || name == "torch._utils._rebuild_parameter_with_state") {
                if (args->items.empty()) fail("bad parameter record");
                return args->items[0];
            }
            if (name == "torch._tensor._rebuild_from_type_v2" || name == "torch._tensor._rebuild_from_type") {
                // (func, new_type, args, state): rebuild with func, forget the subclass.
                if (args->items.size() < 3) fail("bad tensor subclass record");
                return call(args->items[0], args->items[2]);
            }
            if (name == "collections.OrderedDict" || name == "builtins.dict") return make(PyValue::Kind::Dict);
            // LibTorch's own pickler (torch::pickle_save) tags typed containers:
            // restore_type_tag(value, "Dict[str, Tensor]"), build_intlist([..]) ...
            if (name.rfind("torch.jit._pickle.", 0) == 0 && !args->items.empty()) return args->items[0];
        }
        PyRef v = make(PyValue::Kind::Opaque);
        v->text = name;
        return v;
    }

    // The pickle machine: opcodes by family, each family a step that says whether it knew the
    // opcode. STOP returns the value on top of the stack.
    PyRef run() {
        while (true) {
            const unsigned char op = *take(1);
            if (op == '.') return pop();  // STOP
            if (!stackOp(op) && !scalarOp(op) && !textOp(op) && !containerOp(op) && !memoOp(op) && !objectOp(op)) {
                std::ostringstream os;
                os << "unsupported opcode 0x" << std::hex << int(op);
                fail(os.str());
            }
        }
    }

    void push(PyRef v) { stack_.push_back(std::move(v)); }

    bool stackOp(unsigned char op) {
        switch (op) {
        case 0x80: take(1); return true;                         // PROTO
        case 0x95: take(8); return true;                         // FRAME
        case '(': marks_.push_back(stack_.size()); return true;  // MARK
        case '0': pop(); return true;                            // POP
        case '1': popToMark(); return true;                      // POP_MARK
        case '2': push(top()); return true;                      // DUP
        default: return false;
        }
    }

    PyRef intValue(std::int64_t i) {
        PyRef v = make(PyValue::Kind::Int);
        v->integer = i;
        return v;
    }

    // None, booleans, integers and floats.
    bool scalarOp(unsigned char op) {
        using K = PyValue::Kind;
        switch (op) {
        case 'N': push(make(K::None)); return true;
        case 0x88:
        case 0x89: {  // NEWTRUE / NEWFALSE
            PyRef v = make(K::Bool);
            v->boolean = op == 0x88;
            push(v);
            return true;
        }
        case 'J': push(intValue(static_cast<std::int32_t>(readLE(4)))); return true;  // BININT
        case 'K': push(intValue(static_cast<std::int64_t>(readLE(1)))); return true;  // BININT1
        case 'M': push(intValue(static_cast<std::int64_t>(readLE(2)))); return true;  // BININT2
        case 0x8a:
        case 0x8b: {  // LONG1 / LONG4
            const std::size_t n = op == 0x8a ? readLE(1) : readLE(4);
            if (n > 8) fail("integer too large");
            std::uint64_t raw = n ? readLE(n) : 0;
            if (n && n < 8 && (raw >> (8 * n - 1)) & 1) raw |= ~std::uint64_t(0) << (8 * n);
            push(intValue(static_cast<std::int64_t>(raw)));
            return true;
        }
        case 'I':
        case 'L': {  // INT / LONG (text)
            std::string s = readLine();
            if (!s.empty() && s.back() == 'L') s.pop_back();
            if (s == "00" || s == "01") {
                PyRef v = make(K::Bool);
                v->boolean = s == "01";
                push(v);
            } else {
                push(intValue(std::stoll(s)));
            }
            return true;
        }
        case 'G': {  // BINFLOAT (big-endian)
            const unsigned char* p = take(8);
            std::uint64_t bits = 0;
            for (int i = 0; i < 8; ++i) bits = (bits << 8) | p[i];
            PyRef v = make(K::Float);
            std::memcpy(&v->real, &bits, 8);
            push(v);
            return true;
        }
        case 'F': {
            PyRef v = make(K::Float);
            v->real = std::stod(readLine());
            push(v);
            return true;
        }
        default: return false;
        }
    }

    // Strings and bytes, and the module.name of globals.
    bool textOp(unsigned char op) {
        using K = PyValue::Kind;
        switch (op) {
        case 'X':
        case 0x8c:
        case 0x8d:
        case 'T':
        case 'U':
        case 'B':
        case 'C':
        case 0x8e: {
            std::size_t n = 0;
            if (op == 'X' || op == 'T' || op == 'B') n = readLE(4);
            else if (op == 0x8c || op == 'U' || op == 'C') n = readLE(1);
            else n = readLE(8);
            PyRef v = make((op == 'B' || op == 'C' || op == 0x8e) ? K::Bytes : K::Str);
            v->text = readString(n);
            push(v);
            return true;
        }
        case 'c': {  // GLOBAL
            const std::string module = readLine();
            const std::string name = readLine();
            PyRef v = make(K::Global);
            v->text = module + "." + name;
            push(v);
            return true;
        }
        case 0x93: {  // STACK_GLOBAL
            const PyRef name = pop();
            const PyRef module = pop();
            PyRef v = make(K::Global);
            v->text = module->text + "." + name->text;
            push(v);
            return true;
        }
        default: return false;
        }
    }

    PyRef sequence(PyValue::Kind kind, std::vector<PyRef> items) {
        PyRef v = make(kind);
        v->items = std::move(items);
        return v;
    }

    // Dict entries from alternating keys and values.
    static void addEntries(const PyRef& dict, const std::vector<PyRef>& items) {
        for (std::size_t i = 0; i + 1 < items.size(); i += 2) dict->entries.emplace_back(items[i], items[i + 1]);
    }

    // Tuples, lists (and sets, read as lists) and dicts.
    bool containerOp(unsigned char op) {
        using K = PyValue::Kind;
        switch (op) {
        case ')': push(make(K::Tuple)); return true;
        case 0x85:
        case 0x86:
        case 0x87: {  // TUPLE1/2/3
            std::vector<PyRef> items(static_cast<std::size_t>(op - 0x84));
            for (auto it = items.rbegin(); it != items.rend(); ++it) *it = pop();
            push(sequence(K::Tuple, std::move(items)));
            return true;
        }
        case 't': push(sequence(K::Tuple, popToMark())); return true;
        case ']':
        case 0x8f: push(make(K::List)); return true;  // EMPTY_LIST / EMPTY_SET
        case 'l':
        case 0x91: push(sequence(K::List, popToMark())); return true;  // LIST / FROZENSET
        case 'a': {                                                    // APPEND
            PyRef item = pop();
            top()->items.push_back(item);
            return true;
        }
        case 'e':
        case 0x90: {  // APPENDS / ADDITEMS
            std::vector<PyRef> items = popToMark();
            auto& list = top()->items;
            list.insert(list.end(), items.begin(), items.end());
            return true;
        }
        case '}': push(make(K::Dict)); return true;
        case 'd': {
            PyRef v = make(K::Dict);
            addEntries(v, popToMark());
            push(v);
            return true;
        }
        case 's': {  // SETITEM
            PyRef value = pop();
            PyRef key = pop();
            top()->entries.emplace_back(key, value);
            return true;
        }
        case 'u': {  // SETITEMS
            std::vector<PyRef> items = popToMark();
            addEntries(top(), items);
            return true;
        }
        default: return false;
        }
    }

    bool memoOp(unsigned char op) {
        switch (op) {
        case 'q': memo_[static_cast<std::uint32_t>(readLE(1))] = top(); return true;               // BINPUT
        case 'r': memo_[static_cast<std::uint32_t>(readLE(4))] = top(); return true;               // LONG_BINPUT
        case 0x94: memo_[static_cast<std::uint32_t>(memo_.size())] = top(); return true;           // MEMOIZE
        case 'p': memo_[static_cast<std::uint32_t>(std::stoul(readLine()))] = top(); return true;  // PUT
        case 'h':
        case 'j':
        case 'g': {  // BINGET / LONG_BINGET / GET
            const std::uint32_t idx = op == 'h'   ? static_cast<std::uint32_t>(readLE(1))
                                      : op == 'j' ? static_cast<std::uint32_t>(readLE(4))
                                                  : static_cast<std::uint32_t>(std::stoul(readLine()));
            const auto it = memo_.find(idx);
            if (it == memo_.end()) fail("unknown memo entry");
            push(it->second);
            return true;
        }
        default: return false;
        }
    }

    PyRef opaque(const PyRef& cls) {
        PyRef v = make(PyValue::Kind::Opaque);
        v->text = cls->text;
        return v;
    }

    // Storages, calls and objects.
    bool objectOp(unsigned char op) {
        switch (op) {
        case 'Q': {  // BINPERSID
            const PyRef pid = pop();
            push(persistentLoad(pid));
            return true;
        }
        case 'R': {  // REDUCE
            const PyRef args = pop();
            const PyRef func = pop();
            push(call(func, args));
            return true;
        }
        case 0x81: {  // NEWOBJ
            pop();
            push(opaque(pop()));
            return true;
        }
        case 0x92: {  // NEWOBJ_EX
            pop();
            pop();
            push(opaque(pop()));
            return true;
        }
        case 'b': pop(); return true;  // BUILD: object state (e.g. _metadata) ignored
        default: return false;
        }
    }

    caffe2::serialize::PyTorchStreamReader& zip_;
    std::string file_;
    at::DataPtr keepAlive_;
    const unsigned char* data_ = nullptr;
    std::size_t size_ = 0;
    std::size_t pos_ = 0;
    std::vector<PyRef> stack_;
    std::vector<std::size_t> marks_;
    std::unordered_map<std::uint32_t, PyRef> memo_;
    std::unordered_map<std::string, torch::Tensor> storages_;
};

std::string keyText(const PyRef& key) {
    switch (key->kind) {
    case PyValue::Kind::Str: return key->text;
    case PyValue::Kind::Int: return std::to_string(key->integer);
    default: return {};
    }
}

void flatten(const PyRef& v, const std::string& prefix, TensorMap& out) {
    if (v->kind == PyValue::Kind::Tensor) {
        out[prefix] = v->tensor;
    } else if (v->kind == PyValue::Kind::Dict) {
        for (const auto& [key, value] : v->entries) {
            const std::string k = keyText(key);
            if (k.empty()) continue;
            flatten(value, prefix.empty() ? k : prefix + "." + k, out);
        }
    }
}

std::string shapeText(const torch::Tensor& t) {
    std::ostringstream os;
    os << t.sizes();
    return os.str();
}

}  // namespace

TensorMap readTensorFile(const std::filesystem::path& path) {
    const std::string file = path.string();
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error(file + ": cannot open");
    char magic[4] = {};
    in.read(magic, 4);
    in.close();
    if (std::memcmp(magic, "PK\x03\x04", 4) != 0)
        throw std::runtime_error(file +
                                 ": not a PyTorch zip archive (a file from torch.save before PyTorch 1.6, or "
                                 "not a PyTorch file at all); re-save it with torch.save(obj, path) or "
                                 "torch.jit.save(module, path) from PyTorch >= 1.6");
    std::unique_ptr<caffe2::serialize::PyTorchStreamReader> zip;
    try {
        zip = std::make_unique<caffe2::serialize::PyTorchStreamReader>(file);
    } catch (const c10::Error& e) {
        throw std::runtime_error(file + ": broken PyTorch archive: " + e.what_without_backtrace());
    }
    TensorMap out;
    if (zip->hasRecord("constants.pkl")) {
        // TorchScript module: parameters and buffers under their module paths.
        zip.reset();
        torch::jit::Module module;
        try {
            module = torch::jit::load(file);
        } catch (const c10::Error& e) {
            throw std::runtime_error(file + ": cannot load TorchScript module: " + e.what_without_backtrace());
        }
        for (const auto& p : module.named_parameters(true)) out[p.name] = p.value.detach();
        for (const auto& b : module.named_buffers(true)) out[b.name] = b.value.detach();
    } else {
        if (!zip->hasRecord("data.pkl")) throw std::runtime_error(file + ": PyTorch archive without data.pkl");
        TorchArchiveReader reader(*zip, file);
        flatten(reader.load(), "", out);
    }
    if (out.empty()) throw std::runtime_error(file + ": holds no tensors");
    return out;
}

void writeTensorFile(const std::filesystem::path& path, const TensorMap& tensors) {
    c10::Dict<std::string, torch::Tensor> dict;
    for (const auto& [name, t] : tensors) dict.insert(name, t.detach().to(torch::kCPU).contiguous());
    const std::vector<char> bytes = torch::pickle_save(dict);
    util::writeFileAtomically(path, std::string_view(bytes.data(), bytes.size()));
}

TensorMap stateDict(const torch::nn::Module& module) {
    TensorMap out;
    for (const auto& p : module.named_parameters(true)) out[p.key()] = p.value();
    for (const auto& b : module.named_buffers(true)) out[b.key()] = b.value();
    return out;
}

std::string StateDictMismatch::describe(std::size_t maxPerList) const {
    std::ostringstream os;
    auto list = [&](const char* title, const std::vector<std::string>& names) {
        if (names.empty()) return;
        os << "\n  " << title << " (" << names.size() << "):";
        for (std::size_t i = 0; i < names.size() && i < maxPerList; ++i) os << "\n    " << names[i];
        if (names.size() > maxPerList) os << "\n    ... and " << names.size() - maxPerList << " more";
    };
    list("missing keys", missing);
    list("unexpected keys", unexpected);
    list("shape mismatches", shapeMismatch);
    return os.str();
}

void loadStateDict(torch::nn::Module& module, const TensorMap& tensors, const std::string& what,
                   const std::vector<std::string>& skip) {
    auto skipped = [&](const std::string& n) { return std::find(skip.begin(), skip.end(), n) != skip.end(); };
    TensorMap own = stateDict(module);
    StateDictMismatch mismatch;
    for (const auto& [name, t] : own) {
        if (skipped(name)) continue;
        const auto it = tensors.find(name);
        if (it == tensors.end()) {
            mismatch.missing.push_back(name);
        } else if (it->second.sizes() != t.sizes()) {
            mismatch.shapeMismatch.push_back(name + ": file " + shapeText(it->second) + " vs model " + shapeText(t));
        }
    }
    for (const auto& [name, t] : tensors)
        if (!skipped(name) && !own.count(name)) mismatch.unexpected.push_back(name);
    if (!mismatch.empty())
        throw std::runtime_error(what + ": state dict does not match the model:" + mismatch.describe());
    torch::NoGradGuard noGrad;
    for (auto& [name, t] : own) {
        if (skipped(name)) continue;
        t.copy_(tensors.at(name));
    }
}

}  // namespace lumen::nn

namespace lumen::nn {

PrefixedLoadReport loadPrefixedStateDict(torch::nn::Module& module, const std::filesystem::path& path,
                                         const std::string& prefix, const std::string& anchor,
                                         const std::string& what) {
    const TensorMap file = readTensorFile(path);
    PrefixedLoadReport report;
    std::string strip = prefix;
    if (strip.empty()) {
        bool found = false;
        for (const auto& [name, tensor] : file) {
            if (name.size() < anchor.size() || name.compare(name.size() - anchor.size(), anchor.size(), anchor) != 0)
                continue;
            const std::string p = name.substr(0, name.size() - anchor.size());
            if ((p.empty() || p.back() == '.') && (!found || p.size() < strip.size())) {
                strip = p;
                found = true;
            }
        }
    }
    report.strippedPrefix = strip;
    TensorMap tensors;
    for (const auto& [name, tensor] : file) {
        if (name.rfind(strip, 0) == 0) tensors[name.substr(strip.size())] = tensor;
        else report.unexpected.push_back(name);
    }
    const TensorMap own = stateDict(module);
    std::vector<std::string> skip;
    for (const auto& [name, tensor] : tensors)
        if (!own.count(name)) {
            skip.push_back(name);
            report.unexpected.push_back(strip + name);
        }
    loadStateDict(module, tensors, path.string() + ": " + what + " (prefix \"" + strip + "\")", skip);
    return report;
}

}  // namespace lumen::nn
