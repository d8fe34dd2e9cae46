// Reliability of what kbert writes and reads: output directories (never delete what kbert
// did not write, replace atomically, one writer, leftovers of killed runs), and the two
// checkpoint parsers fed hostile input (crafted pickles and safetensors headers).
#include <catch2/catch.hpp>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "io/checkpoint_formats.hpp"
#include "kbert/common/atomic_file.hpp"
#include "kbert/common/error.hpp"
#include "kbert/common/output_dir.hpp"

using namespace kbert;
namespace fs = std::filesystem;

namespace {

// A scratch directory of its own, removed at the end.
struct Scratch {
  fs::path root;
  Scratch() {
    static int n = 0;
    root = fs::temp_directory_path() / ("kbert-rel-" + std::to_string(::getpid()) + "-" + std::to_string(n++));
    fs::remove_all(root);
    fs::create_directories(root);
  }
  ~Scratch() { fs::remove_all(root); }
  std::string operator/(const std::string& name) const { return (root / name).string(); }
};

void write(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }
std::string read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}
// A small model directory as kbert writes one.
void fake_model(const std::string& dir, const std::string& tag) {
  fs::create_directories(dir + "/kg");
  write(dir + "/kbert.json", "{\"format\": \"kbert-model\", \"tag\": \"" + tag + "\"}");
  write(dir + "/config.json", "{}");
  write(dir + "/model.safetensors", tag);
  write(dir + "/kg/energy.spo", "a\tb\tc\n");
}
std::size_t entries(const fs::path& dir) {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++n;
  return n;
}
// A process id no process has (above Linux's pid_max).
const std::string kDeadPid = "2147483646";

}  // namespace

TEST_CASE("Output directories: only new paths and kbert's own directories are written", "[reliability]") {
  Scratch s;
  SECTION("a user's directory is refused and left as it was") {
    fs::create_directories(s / "mine");
    write(s / "mine/notes.txt", "precious");
    write(s / "mine/train.tsv", "label\ttext\n");
    CHECK_THROWS_WITH(OutputDir(s / "mine"), Catch::Contains("not a kbert model directory"));
    CHECK(read(s / "mine/notes.txt") == "precious");
    CHECK(entries(s / "mine") == 2);
  }
  SECTION("a directory whose kbert.json is not a kbert model's is refused and left as it was") {
    for (const char* text : {"{", "[1, 2]", "{\"format\": \"other\"}", ""}) {
      fs::create_directories(s / "j");
      write(s / "j/kbert.json", text);
      CHECK_THROWS_WITH(OutputDir(s / "j"), Catch::Contains("kbert.json is not a kbert model's"));
      CHECK(read(s / "j/kbert.json") == text);
      CHECK(entries(s / "j") == 1);
    }
  }
  SECTION("a kbert directory holding a user's file is refused") {
    fake_model(s / "m", "old");
    write(s / "m/notes.txt", "precious");
    CHECK_THROWS_WITH(OutputDir(s / "m"), Catch::Contains("notes.txt"));
    CHECK(read(s / "m/notes.txt") == "precious");
  }
  SECTION("a regular file, a symbolic link and the root are refused") {
    write(s / "file", "data");
    CHECK_THROWS_WITH(OutputDir(s / "file"), Catch::Contains("not a directory"));
    CHECK(read(s / "file") == "data");
    fake_model(s / "real", "x");
    fs::create_directory_symlink(s / "real", s / "link");
    CHECK_THROWS_WITH(OutputDir(s / "link"), Catch::Contains("symbolic link"));
    CHECK_THROWS_AS(OutputDir("/"), OutputError);
    CHECK_THROWS_AS(OutputDir(s / "."), OutputError);
  }
  SECTION("a new path is created whole; a kbert directory is replaced whole") {
    {
      OutputDir out(s / "m");
      out.replace([](const std::string& tmp) { fake_model(tmp, "first"); });
    }
    CHECK(read(s / "m/model.safetensors") == "first");
    {
      OutputDir out(s / "m/");  // a trailing slash names the same directory
      out.replace([](const std::string& tmp) { fake_model(tmp, "second"); });
    }
    CHECK(read(s / "m/model.safetensors") == "second");
    CHECK(entries(s.root) == 1);  // no temporary, old copy or lock left beside it
  }
  SECTION("a writer that fails leaves the old model untouched and nothing beside it") {
    fake_model(s / "m", "old");
    OutputDir out(s / "m");
    CHECK_THROWS_WITH(out.replace([](const std::string& tmp) {
      fake_model(tmp, "half");
      throw std::runtime_error("disk full");
    }),
                      "disk full");
    CHECK(read(s / "m/model.safetensors") == "old");
    CHECK(entries(s.root) == 2);  // m and m.lock (held by `out`)
  }
  SECTION("an empty directory may be used") {
    fs::create_directories(s / "empty");
    OutputDir out(s / "empty");
    out.replace([](const std::string& tmp) { fake_model(tmp, "new"); });
    CHECK(read(s / "empty/model.safetensors") == "new");
  }
}

TEST_CASE("Single-file outputs: a file is replaced whole; links, devices and directories are handled", "[reliability]") {
  Scratch s;
  const auto writer = [](const std::string& text) { return [text](std::ostream& out) { out << text; }; };
  SECTION("a file is replaced and nothing is left beside it") {
    write(s / "out.txt", "old");
    write_file_atomically(s / "out.txt", writer("new"));
    CHECK(read(s / "out.txt") == "new");
    CHECK(entries(s.root) == 1);
  }
  SECTION("a writer that throws leaves the old file as it was") {
    write(s / "out.txt", "old");
    CHECK_THROWS(write_file_atomically(s / "out.txt", [](std::ostream& out) {
      out << "half";
      throw std::runtime_error("stopped");
    }));
    CHECK(read(s / "out.txt") == "old");
    CHECK(entries(s.root) == 1);
  }
  SECTION("a symbolic link stays a link; the file it names is replaced") {
    write(s / "real.txt", "old");
    fs::create_symlink(s / "real.txt", s / "link.txt");
    write_file_atomically(s / "link.txt", writer("new"));
    CHECK(fs::is_symlink(fs::symlink_status(s / "link.txt")));
    CHECK(read(s / "real.txt") == "new");
    CHECK(entries(s.root) == 2);
  }
  SECTION("a directory is refused, naming it") {
    fs::create_directory(s / "dir");
    CHECK_THROWS_WITH(write_file_atomically(s / "dir", writer("x")), Catch::Contains("is a directory"));
    CHECK(fs::is_directory(s / "dir"));
  }
  SECTION("a FIFO is written in place, not replaced by a file") {
    REQUIRE(::mkfifo((s / "pipe").c_str(), 0600) == 0);
    std::string got;
    std::thread reader([&] { got = read(s / "pipe"); });
    write_file_atomically(s / "pipe", writer("through the pipe"));
    reader.join();
    CHECK(got == "through the pipe");
    CHECK(fs::is_fifo(fs::symlink_status(s / "pipe")));
  }
}

TEST_CASE("Output directories: one writer at a time", "[reliability]") {
  Scratch s;
  {
    OutputDir first(s / "m");
    CHECK(fs::exists(s / "m.lock"));
    CHECK_THROWS_WITH(OutputDir(s / "m"), Catch::Contains("another kbert process") && Catch::Contains("is writing it"));
    OutputDir checkpoint(s / "m.checkpoint", /*lock=*/false);  // covered by the first one's lock
  }
  CHECK_FALSE(fs::exists(s / "m.lock"));
  OutputDir again(s / "m");  // free again
}

TEST_CASE("Output directories: leftovers of killed runs are cleaned or restored", "[reliability]") {
  Scratch s;
  SECTION("a half-written new version is removed") {
    fake_model(s / "m", "current");
    fake_model(s / ("m.kbert-tmp-" + kDeadPid), "half");
    fake_model(s / ("m.tmp-" + kDeadPid), "legacy half");  // named as older kbert versions did
    OutputDir out(s / "m");
    CHECK(out.notes().size() == 2);
    CHECK_FALSE(fs::exists(s / ("m.kbert-tmp-" + kDeadPid)));
    CHECK_FALSE(fs::exists(s / ("m.tmp-" + kDeadPid)));
    CHECK(read(s / "m/model.safetensors") == "current");
  }
  SECTION("the only copy, moved aside when the run was killed, is put back") {
    fake_model(s / ("m.old-" + kDeadPid), "previous");
    OutputDir out(s / "m");
    REQUIRE(out.notes().size() == 1);
    CHECK_THAT(out.notes()[0], Catch::Contains("restored"));
    CHECK(read(s / "m/model.safetensors") == "previous");
  }
  SECTION("a leftover with a user's file in it is reported, not removed") {
    fake_model(s / ("m.kbert-tmp-" + kDeadPid), "half");
    write(s / ("m.kbert-tmp-" + kDeadPid) + "/mine.txt", "x");
    OutputDir out(s / "m");
    REQUIRE(out.notes().size() == 1);
    CHECK_THAT(out.notes()[0], Catch::Contains("left") && Catch::Contains("mine.txt"));
    CHECK(fs::exists(s / ("m.kbert-tmp-" + kDeadPid) + "/mine.txt"));
  }
  SECTION("a live process's temporary is left alone") {
    fake_model(s / ("m.kbert-tmp-" + std::to_string(::getppid())), "busy");
    OutputDir out(s / "m");
    CHECK(fs::exists(s / ("m.kbert-tmp-" + std::to_string(::getppid()))));
  }
}

// ---------------------------------------------------------------------------------------
namespace {

std::string u32le(std::uint32_t v) {
  std::string s(4, '\0');
  for (int i = 0; i < 4; ++i) s[static_cast<std::size_t>(i)] = static_cast<char>((v >> (8 * i)) & 0xFF);
  return s;
}
std::string str(const std::string& s) { return "X" + u32le(static_cast<std::uint32_t>(s.size())) + s; }
std::string small(int v) { return std::string("K") + static_cast<char>(v); }
const std::string kRebuild = "ctorch._utils\n_rebuild_tensor_v2\n";
// A storage reference: BINPERSID over ('storage', FloatStorage, key, 'cpu', n).
std::string storage(const std::string& key, int n) {
  return "(" + str("storage") + "ctorch\nFloatStorage\n" + str(key) + str("cpu") + small(n) + "tQ";
}
// _rebuild_tensor_v2(storage, offset, (size,), (stride,), False, {})
std::string tensor(const std::string& key, int numel, int offset, int size) {
  return kRebuild + "(" + storage(key, numel) + small(offset) + small(size) + "\x85" + small(1) + "\x85" + "\x89}tR";
}
std::vector<io::NamedTensorRef> unpickle(const std::string& p, std::int64_t storage_elements = 4) {
  return io::read_state_dict_pickle("crafted.pt", p.data(), p.size(),
                                    [&](const std::string&, io::DType) { return storage_elements; });
}

}  // namespace

TEST_CASE("Pickled state dicts: a real one reads, crafted ones fail cleanly", "[reliability]") {
  const std::string head = "\x80\x02}(";
  auto refs = unpickle(head + str("w") + tensor("0", 4, 0, 4) + str("b") + tensor("0", 4, 2, 2) + "u.");
  REQUIRE(refs.size() == 2);
  CHECK(refs[0].name == "w");
  CHECK(refs[0].tensor.sizes == std::vector<std::int64_t>{4});
  CHECK(refs[1].tensor.offset == 2);
  // Nested under "state_dict".
  CHECK(unpickle("\x80\x02}(" + str("state_dict") + "}(" + str("w") + tensor("0", 4, 0, 4) + "uu.").size() == 1);

  // Arguments that are not a tuple (a null dereference before).
  CHECK_THROWS_WITH(unpickle(head + str("w") + kRebuild + "NRu."), Catch::Contains("not a tuple"));
  CHECK_THROWS_WITH(unpickle(head + str("w") + "ctorch._utils\n_rebuild_parameter\nNRu."), Catch::Contains("not a tuple"));
  CHECK_THROWS_WITH(unpickle(head + str("w") + "ctorch._utils\n_rebuild_parameter\n(NtRu."), Catch::Contains("bad arguments"));
  CHECK_THROWS_WITH(unpickle(head + str("w") + kRebuild + "(N" + small(0) + "NNtRu."), Catch::Contains("bad arguments"));
  // A view past the end of its storage, and sizes that overflow.
  CHECK_THROWS_WITH(unpickle(head + str("w") + tensor("0", 4, 1, 4) + "u."), Catch::Contains("holds 4"));
  CHECK_THROWS_WITH(unpickle(head + str("w") + kRebuild + "(" + storage("0", 4) + small(0) + "J\xff\xff\xff\x7f" +
                             "J\xff\xff\xff\x7f" + "\x86" + "J\xff\xff\xff\x7f" + small(1) + "\x86" + "\x89}tRu."),
                    Catch::Contains("out of range") || Catch::Contains("too large"));
  CHECK_THROWS_WITH(unpickle(head + str("w") + kRebuild + "(" + storage("0", 4) + small(0) + "J\xff\xff\xff\xff\x85" +
                             small(1) + "\x85\x89}tRu."),
                    Catch::Contains("non-negative"));
  // What a state dict never holds: code to call.
  CHECK_THROWS_WITH(unpickle("\x80\x02" "cos\nsystem\n(" + str("echo hi") + "tR."), Catch::Contains("unsupported object os.system"));
  CHECK_THROWS_WITH(unpickle("\x80\x02" "cbuiltins\neval\n(" + str("1") + "tR."), Catch::Contains("unsupported object"));
  // Truncated, underflowing, unknown opcodes.
  CHECK_THROWS_WITH(unpickle(head + str("w")), Catch::Contains("unexpected end"));
  CHECK_THROWS_WITH(unpickle("\x80\x02s."), Catch::Contains("underflow") || Catch::Contains("wrong kind"));
  CHECK_THROWS_WITH(unpickle("\x80\x02\xff"), Catch::Contains("unsupported pickle opcode"));
  CHECK_THROWS_WITH(unpickle("\x80\x02(\x85."), Catch::Contains("MARK"));
}

TEST_CASE("Pickled state dicts: deep nests and cycles end in an error, not a crash or a loop", "[reliability]") {
  // 300,000 nested 1-tuples: used to overflow the stack when freed.
  std::string deep = "\x80\x02)";
  deep += std::string(300000, '\x85');
  deep += ".";
  CHECK_THROWS_WITH(unpickle(deep), Catch::Contains("does not hold a dict"));
  // 200,000 lists, each inside the one before: freed without recursion.
  const std::string lists = "\x80\x02" + std::string(200001, ']') + std::string(200000, 'a') + ".";
  CHECK_THROWS_WITH(unpickle(lists), Catch::Contains("does not hold a dict"));
  // A dict that holds itself: {"state_dict": <itself>}.
  CHECK_THROWS_WITH(unpickle("\x80\x02}\x94" + str("state_dict") + "h" + std::string(1, '\0') + "s."),
                    Catch::Contains("no tensors"));
  // Two dicts holding each other.
  // D0 = {"state_dict": D1}, D1 = {"model": D0}.
  const std::string a_b = "\x80\x02}\x94" + str("state_dict") + "}\x94" + str("model") + "h" + std::string(1, '\0') + "ss.";
  CHECK_THROWS_AS(unpickle(a_b), ParseError);
  // A name given twice.
  CHECK_THROWS_WITH(unpickle("\x80\x02}(" + str("w") + tensor("0", 4, 0, 4) + str("w") + tensor("0", 4, 0, 4) + "u."),
                    Catch::Contains("twice"));
}

TEST_CASE("Safetensors headers: duplicates, overlaps and bad sizes are refused", "[reliability]") {
  const auto ok = io::parse_safetensors_header(
      "m.safetensors",
      R"({"b": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}, "a": {"dtype": "F16", "shape": [2, 2], "data_offsets": [0, 8]}, "__metadata__": {"format": "pt"}})",
      16);
  REQUIRE(ok.size() == 2);
  CHECK(ok[0].name == "a");  // file order
  auto fails = [](const std::string& header, std::uint64_t data) {
    return io::parse_safetensors_header("m.safetensors", header, data);
  };
  CHECK_THROWS_WITH(fails(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})", 8),
                    Catch::Contains("'a' appears twice"));
  CHECK_THROWS_WITH(fails(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})", 8),
                    Catch::Contains("overlap"));
  CHECK_THROWS_WITH(fails(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})", 4), Catch::Contains("outside"));
  CHECK_THROWS_WITH(fails(R"({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}})", 8), Catch::Contains("bytes for shape"));
  CHECK_THROWS_WITH(fails(R"({"a": {"dtype": "F32", "shape": [2.5], "data_offsets": [0, 8]}})", 8), Catch::Contains("bad shape"));
  CHECK_THROWS_WITH(fails(R"({"a": {"dtype": "F32", "shape": [4294967296, 4294967296, 4294967296], "data_offsets": [0, 8]}})", 8),
                    Catch::Contains("bad shape"));
  CHECK_THROWS_WITH(fails(R"({"a": {"dtype": "F8_E4M3", "shape": [1], "data_offsets": [0, 1]}})", 8), Catch::Contains("F8_E4M3"));
  CHECK_THROWS_WITH(fails(std::string(100000, '[') + std::string(100000, ']'), 8), Catch::Contains("nested too deeply"));
  CHECK_THROWS_WITH(fails("[1, 2]", 8), Catch::Contains("not a JSON object"));
  CHECK_THROWS_WITH(fails("{\"a\": ", 8), Catch::Contains("bad safetensors header JSON"));
}
