// mx.hpp - the pure half of finding where a domain's mail goes: MX rdata decoding and the
// order MX hosts are tried in (RFC 5321 5.1: lowest preference first, equal preferences
// in random order; RFC 7505 null MX). Called by deliver/remote/attempt.cpp with answers
// from deliver/remote/dns.cpp. Trusts nothing in the rdata: a malformed record is dropped.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace tegami::remote {

struct MxRecord {
    uint16_t preference = 0;
    std::string host;  // lower case, no trailing dot; empty for the root (null MX)
};

// One MX rdata: 16-bit preference + an uncompressed domain name in wire form.
bool parse_mx_rdata(std::string_view rdata, MxRecord& out);

struct MxPlan {
    bool null_mx = false;            // the domain accepts no mail (RFC 7505)
    std::vector<std::string> hosts;  // in the order to try
};

// Orders the records (preference, then shuffled with rng among equals). A lone record
// with the root as host is a null MX; a root host among others is ignored.
MxPlan plan_mx(std::vector<MxRecord> records, std::mt19937& rng);

}  // namespace tegami::remote
