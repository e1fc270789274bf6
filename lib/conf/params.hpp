// params.hpp - the parameter table's entry type (see params.cpp).
#pragma once

#include <string>
#include <vector>

#include "lib/conf/config.hpp"

namespace tegami {

enum class ParamType { string, path, list, listen, size, duration, count, mailbox_format, boolean };

struct Param {
    const char* name;
    ParamType type;
    const char* default_value;
    const char* doc;
    std::string Config::*str;
    std::vector<std::string> Config::*list;
    uint64_t Config::*num;
    bool Config::*flag = nullptr;  // ParamType::boolean
};

const std::vector<Param>& param_table();

}  // namespace tegami
