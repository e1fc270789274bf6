// editmap.cpp - see editmap.hpp.
#include "msp/editmap/editmap.hpp"

#include <sys/stat.h>

#include <cctype>
#include <cerrno>
#include <cstring>

#include "lib/core/sysexits.hpp"
#include "lib/map/map_writer.hpp"

namespace tegami::editmap {

namespace {

std::string stored_key(const Options& opt) {
    std::string k = opt.key;
    if (opt.fold_case)
        for (char& c : k)
            c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (opt.include_nul) k.push_back('\0');
    return k;
}

int query(const Options& opt, const map::MapSpec& spec, std::FILE* out, std::FILE* err) {
    // The map readers' own lookup: the key lower-cased, then as given, each without and
    // with its trailing NUL (a -N map and a plain one both answer).
    std::string key = opt.key;
    if (opt.fold_case)
        for (char& c : key)
            c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    auto m = map::open_map(spec.name);
    Result<std::optional<std::string>> v =
        m ? m.value()->lookup(key) : Result<std::optional<std::string>>(m.error());
    if (!v) {
        std::fprintf(err, "editmap: error opening type %s map %s: %s\n",
                     map::map_type_name(opt.type), opt.map_name.c_str(), v.error().message.c_str());
        return code(Exit::cant_create);
    }
    if (!*v) return code(Exit::unavailable);  // sendmail prints nothing either
    std::fprintf(out, "%s\n", v.value()->c_str());
    return std::fflush(out) == 0 ? 0 : code(Exit::io_err);
}

}  // namespace

int run(const Options& opt, std::FILE* out, std::FILE* err) {
    auto spec = map::parse_map_spec(std::string(map::map_type_name(opt.type)) + ":" + opt.map_name);
    if (!spec) {
        std::fprintf(err, "editmap: %s\n", spec.error().message.c_str());
        return code(Exit::usage);
    }
    struct stat st {};
    if (::stat(spec->file.c_str(), &st) != 0) {  // editmap edits a map; it makes none
        std::fprintf(err, "editmap: error opening type %s map %s: %s\n",
                     map::map_type_name(opt.type), opt.map_name.c_str(), std::strerror(errno));
        return code(Exit::cant_create);
    }
    if (opt.mode == Mode::query) return query(opt, spec.value(), out, err);
    map::WriteOptions wopt;
    wopt.append = true;
    auto writer = map::MapWriter::create(opt.type, spec->file, wopt);
    if (!writer) {
        std::fprintf(err, "editmap: error opening type %s map %s: %s\n",
                     map::map_type_name(opt.type), opt.map_name.c_str(),
                     writer.error().message.c_str());
        return code(Exit::cant_create);
    }
    std::string key = stored_key(opt);
    if (opt.mode == Mode::update) {
        std::string value = opt.value;
        if (opt.include_nul) value.push_back('\0');
        auto put = writer.value()->put(key, value, true);
        if (!put) {
            std::fprintf(err, "editmap: %s: cannot put key %s: %s\n", opt.map_name.c_str(),
                         opt.key.c_str(), put.error().message.c_str());
            return code(Exit::io_err);
        }
    } else {
        auto del = writer.value()->remove(key);
        if (!del || !del.value()) {
            std::fprintf(err, "editmap: %s: cannot delete key %s: %s\n", opt.map_name.c_str(),
                         opt.key.c_str(), del ? "not found" : del.error().message.c_str());
            return code(Exit::io_err);  // the writer goes: the map is left as it was
        }
    }
    auto c = writer.value()->commit();
    if (!c) {
        std::fprintf(err, "editmap: %s: %s\n", opt.map_name.c_str(), c.error().message.c_str());
        return code(Exit::io_err);
    }
    return 0;
}

}  // namespace tegami::editmap
