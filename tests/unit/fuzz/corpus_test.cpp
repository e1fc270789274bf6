// corpus_test.cpp - runs the saved fuzz corpora as plain tests: every file of
// tests/fuzz/corpus/<target>/ goes through that target's function (tests/fuzz/*_fuzz.cpp),
// which aborts when a parser breaks one of its invariants. The corpus is found under
// $TEGAMI_SRC (set by scripts/check.sh) or the current directory. When a target aborts,
// a SIGABRT handler names the input file before the test process dies.
#include <criterion/criterion.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

int fuzz_address(const uint8_t* data, size_t size);
int fuzz_aliases(const uint8_t* data, size_t size);
int fuzz_config(const uint8_t* data, size_t size);
int fuzz_data_reader(const uint8_t* data, size_t size);
int fuzz_envelope(const uint8_t* data, size_t size);
int fuzz_ipc_messages(const uint8_t* data, size_t size);
int fuzz_map_text(const uint8_t* data, size_t size);
int fuzz_smtp_command(const uint8_t* data, size_t size);
int fuzz_msp_input(const uint8_t* data, size_t size);

namespace {

namespace fs = std::filesystem;

using FuzzFn = int (*)(const uint8_t*, size_t);

// The input being run, for the abort handler (which may only call write(2)).
char g_current[512];

void name_input_on_abort(int) {
    (void)!::write(STDERR_FILENO, g_current, std::strlen(g_current));
    std::signal(SIGABRT, SIG_DFL);
}

fs::path corpus_dir(const char* target) {
    const char* src = std::getenv("TEGAMI_SRC");
    fs::path root = src != nullptr && *src != '\0' ? fs::path(src) : fs::current_path();
    return root / "tests" / "fuzz" / "corpus" / target;
}

// Runs every file of the target's corpus through fn; returns how many ran.
size_t run_corpus(const char* target, FuzzFn fn) {
    fs::path dir = corpus_dir(target);
    cr_assert(fs::is_directory(dir), "no corpus directory %s (set TEGAMI_SRC)", dir.c_str());
    std::signal(SIGABRT, name_input_on_abort);
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(dir))
        if (e.is_regular_file()) files.push_back(e.path());
    std::sort(files.begin(), files.end());
    size_t ran = 0;
    for (const auto& f : files) {
        std::ifstream in(f, std::ios::binary);
        cr_assert(in.good(), "cannot read %s", f.c_str());
        std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        std::snprintf(g_current, sizeof g_current, "fuzz corpus: %s/%s broke an invariant\n",
                      target, f.filename().c_str());
        cr_expect_eq(fn(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()), 0);
        ++ran;
    }
    return ran;
}

void expect_corpus(const char* target, FuzzFn fn, size_t at_least) {
    size_t ran = run_corpus(target, fn);
    cr_expect_geq(ran, at_least, "%s corpus: %zu files, want at least %zu", target, ran, at_least);
}

}  // namespace

TestSuite(fuzz_corpus, .timeout = 120);

Test(fuzz_corpus, smtp_command) {
    expect_corpus("smtp_command", fuzz_smtp_command, 10);
}

Test(fuzz_corpus, address) {
    expect_corpus("address", fuzz_address, 10);
}

Test(fuzz_corpus, data_reader) {
    expect_corpus("data_reader", fuzz_data_reader, 10);
}

Test(fuzz_corpus, config) {
    expect_corpus("config", fuzz_config, 5);
}

Test(fuzz_corpus, aliases) {
    expect_corpus("aliases", fuzz_aliases, 5);
}

Test(fuzz_corpus, ipc_messages) {
    expect_corpus("ipc_messages", fuzz_ipc_messages, 20);
}

Test(fuzz_corpus, envelope) {
    expect_corpus("envelope", fuzz_envelope, 5);
}

Test(fuzz_corpus, map_text) {
    expect_corpus("map_text", fuzz_map_text, 5);
}

Test(fuzz_corpus, msp_input) {
    expect_corpus("msp_input", fuzz_msp_input, 5);
}
