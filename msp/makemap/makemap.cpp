// makemap.cpp - see makemap.hpp. Input is untrusted text (any length, any bytes): each
// bad line is reported with its number and skipped; nothing in it can make the map
// half-written, because the new file replaces the old only after a complete build
// (lib/map/map_writer.hpp).
#include "msp/makemap/makemap.hpp"

#include <sys/stat.h>

#include "lib/map/map_text.hpp"
#include "lib/map/map_writer.hpp"

namespace tegami::makemap {

namespace {

// Reads one line of any length into line (without the newline); false at EOF.
bool read_line(std::FILE* in, std::string& line) {
    line.clear();
    int c;
    bool any = false;
    while ((c = std::getc(in)) != EOF) {
        any = true;
        if (c == '\n') return true;
        line.push_back(static_cast<char>(c));
    }
    return any;
}

// What sendmail's -u prints of a stored key or value: up to its first NUL.
std::string_view printable(std::string_view s) {
    size_t nul = s.find('\0');
    return nul == std::string_view::npos ? s : s.substr(0, nul);
}

int dump(const Options& opt, std::FILE* out, std::FILE* err) {
    std::string spec = std::string(map::map_type_name(opt.type)) + ":" + opt.map_name;
    char sep = opt.separator == '\0' ? '\t' : opt.separator;
    bool write_failed = false;
    auto r = map::for_each_record(spec, [&](std::string_view k, std::string_view v) {
        k = printable(k);
        v = printable(v);
        if (std::fwrite(k.data(), 1, k.size(), out) != k.size() || std::fputc(sep, out) == EOF ||
            std::fwrite(v.data(), 1, v.size(), out) != v.size() || std::fputc('\n', out) == EOF)
            write_failed = true;
        return !write_failed;
    });
    if (!r) {
        std::fprintf(err, "makemap: error opening type %s map %s: %s\n",
                     map::map_type_name(opt.type), opt.map_name.c_str(), r.error().message.c_str());
        return code(Exit::cant_create);
    }
    if (write_failed || std::fflush(out) != 0) {
        std::fprintf(err, "makemap: %s: write error on output\n", opt.map_name.c_str());
        return code(Exit::io_err);
    }
    return 0;
}

}  // namespace

int run(const Options& opt, std::FILE* in, std::FILE* out, std::FILE* err) {
    if (opt.dump) return dump(opt, out, err);
    auto spec = map::parse_map_spec(std::string(map::map_type_name(opt.type)) + ":" + opt.map_name);
    if (!spec) {
        std::fprintf(err, "makemap: %s\n", spec.error().message.c_str());
        return code(Exit::usage);
    }
    map::WriteOptions wopt;
    wopt.cache_size = opt.cache_size;
    wopt.allow_dups = opt.allow_dups;
    wopt.append = opt.append;
    // A new map is as readable as the text it is made from (stdin redirected from the
    // source file, as admins run it), so the daemons that read e.g. /etc/mail/access
    // can read access.db; from a pipe it is 0640, as sendmail makes it.
    struct stat src {};
    if (::fstat(fileno(in), &src) == 0 && S_ISREG(src.st_mode)) {
        wopt.new_mode = src.st_mode & 0666;
        wopt.new_gid = src.st_gid;
    }
    auto writer = map::MapWriter::create(opt.type, spec->file, wopt);
    if (!writer) {
        std::fprintf(err, "makemap: error opening type %s map %s: %s\n",
                     map::map_type_name(opt.type), opt.map_name.c_str(),
                     writer.error().message.c_str());
        return code(writer.error().exit == Exit::usage ? Exit::usage : Exit::cant_create);
    }
    map::TextOptions topt;
    topt.separator = opt.separator;
    topt.comment = opt.comment;
    topt.fold_case = opt.fold_case;
    topt.allow_empty = opt.allow_empty;
    int status = 0;
    std::string line;
    size_t lineno = 0;
    while (read_line(in, line)) {
        ++lineno;
        auto rec = map::parse_text_line(line, lineno, topt);
        if (!rec) {
            std::fprintf(err, "makemap: %s: %s\n", opt.map_name.c_str(),
                         rec.error().message.c_str());
            status = code(Exit::data_err);
            continue;
        }
        if (!rec.value()) continue;
        map::TextRecord& r = *rec.value();
        if (opt.verbose) std::fprintf(out, "key=`%s', val=`%s'\n", r.key.c_str(), r.value.c_str());
        if (opt.include_nul) {
            r.key.push_back('\0');
            r.value.push_back('\0');
        }
        auto put = writer.value()->put(r.key, r.value, opt.replace);
        if (!put) {
            std::fprintf(err, "makemap: %s: line %zu: key %s: put error: %s\n",
                         opt.map_name.c_str(), lineno, std::string(printable(r.key)).c_str(),
                         put.error().message.c_str());
            return code(Exit::io_err);
        }
        if (!put.value()) {
            std::fprintf(err, "makemap: %s: line %zu: key %s: duplicate key\n",
                         opt.map_name.c_str(), lineno, std::string(printable(r.key)).c_str());
            if (status == 0) status = code(Exit::data_err);
        }
    }
    if (std::ferror(in)) {
        std::fprintf(err, "makemap: %s: read error on standard input\n", opt.map_name.c_str());
        return code(Exit::io_err);  // the old map stays
    }
    auto c = writer.value()->commit();
    if (!c) {
        std::fprintf(err, "makemap: %s: %s\n", opt.map_name.c_str(), c.error().message.c_str());
        return code(c.error().exit);
    }
    return status;
}

}  // namespace tegami::makemap
