// mx.cpp - see mx.hpp.
#include "deliver/remote/mx.hpp"

#include <algorithm>

#include "lib/mail/address.hpp"

namespace tegami::remote {

bool parse_mx_rdata(std::string_view rdata, MxRecord& out) {
    if (rdata.size() < 3) return false;
    MxRecord r;
    r.preference = static_cast<uint16_t>((static_cast<unsigned char>(rdata[0]) << 8) |
                                         static_cast<unsigned char>(rdata[1]));
    size_t i = 2;
    std::string name;
    for (;;) {
        if (i >= rdata.size()) return false;
        auto len = static_cast<unsigned char>(rdata[i++]);
        if (len == 0) break;
        if (len > 63 || i + len > rdata.size()) return false;  // compression is not expected
        if (!name.empty()) name.push_back('.');
        name.append(rdata.substr(i, len));
        i += len;
        if (name.size() > 253) return false;
    }
    if (i != rdata.size()) return false;
    if (!name.empty() && !valid_domain(name, false)) return false;
    r.host = lower_ascii(name);
    out = std::move(r);
    return true;
}

MxPlan plan_mx(std::vector<MxRecord> records, std::mt19937& rng) {
    MxPlan plan;
    if (records.size() == 1 && records[0].host.empty()) {
        plan.null_mx = true;
        return plan;
    }
    std::erase_if(records, [](const MxRecord& r) { return r.host.empty(); });
    std::shuffle(records.begin(), records.end(), rng);
    std::stable_sort(records.begin(), records.end(), [](const MxRecord& a, const MxRecord& b) {
        return a.preference < b.preference;
    });
    for (auto& r : records)
        if (std::find(plan.hosts.begin(), plan.hosts.end(), r.host) == plan.hosts.end())
            plan.hosts.push_back(std::move(r.host));
    return plan;
}

}  // namespace tegami::remote
