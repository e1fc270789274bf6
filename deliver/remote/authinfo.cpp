// authinfo.cpp - see authinfo.hpp.
#include "deliver/remote/authinfo.hpp"

#include <openssl/evp.h>

namespace tegami::remote {

namespace {

bool decode_base64(std::string_view in, std::string& out) {
    if (in.size() % 4 != 0) return false;
    std::string buf(in.size() / 4 * 3 + 1, '\0');
    int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(buf.data()),
                            reinterpret_cast<const unsigned char*>(in.data()),
                            static_cast<int>(in.size()));
    if (n < 0) return false;
    size_t len = static_cast<size_t>(n);
    if (!in.empty() && in.back() == '=') --len;
    if (in.size() >= 2 && in[in.size() - 2] == '=') --len;
    buf.resize(len);
    out = std::move(buf);
    return true;
}

}  // namespace

bool parse_authinfo(std::string_view v, AuthInfo& out, std::string& why) {
    AuthInfo a;
    size_t i = 0;
    while (i < v.size()) {
        if (v[i] == ' ' || v[i] == '\t') {
            ++i;
            continue;
        }
        std::string item;
        if (v[i] == '"') {
            size_t close = v.find('"', i + 1);
            if (close == std::string_view::npos) {
                why = "unterminated quoted item";
                return false;
            }
            item = std::string(v.substr(i + 1, close - i - 1));
            i = close + 1;
        } else {
            size_t end = v.find_first_of(" \t", i);
            if (end == std::string_view::npos) end = v.size();
            item = std::string(v.substr(i, end - i));
            i = end;
        }
        if (item.size() < 2 || (item[1] != ':' && item[1] != '=')) {
            why = "bad item \"" + item + "\"";
            return false;
        }
        std::string val = item.substr(2);
        bool b64 = item[1] == '=';
        if (b64 && !decode_base64(val, val)) {
            why = "bad base64 in item " + item.substr(0, 1);
            return false;
        }
        switch (item[0]) {
            case 'U':
                a.user = val;
                break;
            case 'I':
                a.authid = val;
                break;
            case 'P':
                a.password = val;
                break;
            case 'R':
                break;  // realm: not used by PLAIN or LOGIN
            case 'M': {
                size_t p = 0;
                while (p < val.size()) {
                    size_t e = val.find(' ', p);
                    if (e == std::string::npos) e = val.size();
                    std::string m = val.substr(p, e - p);
                    for (char& c : m)
                        if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
                    if (!m.empty()) a.mechanisms.push_back(m);
                    p = e + 1;
                }
                break;
            }
            default:
                why = "unknown item \"" + item.substr(0, 2) + "\"";
                return false;
        }
    }
    if (a.user.empty()) a.user = a.authid;
    if (a.authid.empty()) a.authid = a.user;
    if (a.user.empty() || a.password.empty()) {
        why = "needs a user (U: or I:) and a password (P:)";
        return false;
    }
    if (a.mechanisms.empty()) a.mechanisms = {"PLAIN", "LOGIN"};
    out = std::move(a);
    return true;
}

}  // namespace tegami::remote
