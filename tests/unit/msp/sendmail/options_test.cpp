// options_test.cpp - tests for msp/sendmail/options.cpp: sendmail's command line as
// real callers write it, bad flags first (with sendmail 8.17's exit codes).
#include <criterion/criterion.h>

#include <string>
#include <vector>

#include "msp/sendmail/options.hpp"

using namespace tegami;
using namespace tegami::msp;

namespace {

Result<Options> parse(const std::vector<std::string>& args, const char* argv0 = "sendmail") {
    return parse_options(args, argv0);
}

}  // namespace

Test(options, bad_flags_get_sendmails_exit_codes) {
    struct Case {
        std::vector<std::string> args;
        Exit exit;
        const char* words;
    } cases[] = {
        {{"-Z"}, Exit::usage, "illegal option -- Z"},
        {{"-f"}, Exit::usage, "option requires an argument -- f"},
        {{"-oZ"}, Exit::config, "unknown option"},
        {{"-ONoSuchOption=1"}, Exit::software, "unknown option name NoSuchOption"},
        {{"-q!X"}, Exit::usage, "-q!"},
        {{"-qR"}, Exit::usage, "needs a substring"},
        {{"-q5x"}, Exit::usage, "Invalid time"},
        {{"-Ax"}, Exit::usage, "-A"},
        {{"-fa", "-fb"}, Exit::usage, "More than one"},
        {{"--bogus"}, Exit::usage, "illegal option"},
        {{"-N", "never,success"}, Exit::usage, "Invalid -N argument"},
        {{"-N", "sucess"}, Exit::usage, "Invalid -N argument"},
        {{"-N", ""}, Exit::usage, "Invalid -N argument"},
        {{"-Nsuccess,success"}, Exit::usage, "Invalid -N argument"},
        {{"-R", "body"}, Exit::usage, "Invalid -R value"},
        {{"-R", ""}, Exit::usage, "Invalid -R value"},
        {{"-V", "a+ZZ"}, Exit::usage, "Invalid syntax in -V flag"},
        {{"-V", "a=b"}, Exit::usage, "Invalid syntax in -V flag"},
        {{"-V", std::string(101, 'v')}, Exit::usage, "Invalid syntax in -V flag"},
    };
    for (const auto& c : cases) {
        auto r = parse(c.args);
        cr_assert(!r, "%s should fail", c.args[0].c_str());
        cr_expect_eq(r.error().exit, c.exit, "%s", c.args[0].c_str());
        cr_expect(r.error().message.find(c.words) != std::string::npos, "%s: %s", c.args[0].c_str(),
                  r.error().message.c_str());
    }
}

Test(options, real_callers_command_lines) {
    // Debian cron
    auto r = parse({"-FCronDaemon", "-i", "-B8BITMIME", "-oem", "alice"});
    cr_assert(r);
    cr_expect_eq(r->full_name, "CronDaemon");
    cr_expect(r->ignore_dots);
    cr_expect_eq(r->body_type, "8BITMIME");
    cr_expect_eq(r->error_mode, 'm');
    cr_expect_eq(r->recipients, std::vector<std::string>{"alice"});
    cr_expect(!r->dangerous);
    // mutt
    r = parse({"-oem", "-oi", "-f", "me@x.org", "-B8BITMIME", "-N", "success,failure", "-R", "hdrs",
               "--", "bob@y.org", "-carol"});
    cr_assert(r);
    cr_expect_eq(r->sender, "me@x.org");
    cr_expect_eq(r->sender_flag, 'f');
    cr_expect_eq(r->notify, "SUCCESS,FAILURE");
    cr_expect_eq(r->ret, "HDRS");
    cr_expect_eq(r->recipients, (std::vector<std::string>{"bob@y.org", "-carol"}));
    // DSN flags as sendmail spells them: any case, NEVER alone, -V already xtext
    r = parse({"-Nnever", "-RFULL", "-VQQ+2B1", "u"});
    cr_assert(r);
    cr_expect_eq(r->notify, "NEVER");
    cr_expect_eq(r->ret, "FULL");
    cr_expect_eq(r->envid, "QQ+2B1");
    r = parse({"-N", "delay,Success", "u"});
    cr_assert(r);
    cr_expect_eq(r->notify, "SUCCESS,DELAY");
    // grouped letters, PHP, mailx
    r = parse({"-ti"});
    cr_assert(r);
    cr_expect(r->read_recipients && r->ignore_dots);
    r = parse({"-i", "-t", "-m", "-v"});
    cr_assert(r);
    cr_expect(r->me_too && r->verbose);
    // options after recipients still count (glibc getopt permutes)
    r = parse({"bob", "-t"});
    cr_assert(r);
    cr_expect(r->read_recipients);
    // -r is -f
    r = parse({"-rfetch@x.org", "-i", "--", "u"});
    cr_assert(r);
    cr_expect_eq(r->sender, "fetch@x.org");
    cr_expect_eq(r->sender_flag, 'r');
}

Test(options, modes_and_program_names) {
    cr_expect_eq(parse({}, "/usr/bin/mailq")->mode, "p");
    cr_expect_eq(parse({}, "newaliases")->mode, "i");
    cr_expect_eq(parse({}, "hoststat")->mode, "h");
    cr_expect_eq(parse({}, "purgestat")->mode, "H");
    cr_expect_eq(parse({}, "smtpd")->mode, "d");
    cr_expect_eq(parse({}, "sendmail")->mode, "m");
    auto r = parse({"-bs", "-odb", "-oem"});
    cr_assert(r);
    cr_expect_eq(r->mode, "s");
    cr_expect_eq(r->delivery_mode, 'b');
    r = parse({"-b", "v", "x"});
    cr_assert(r);
    cr_expect_eq(r->mode, "v");
}

Test(options, queue_flags) {
    auto r = parse({"-L", "sm-msp-queue", "-Ac", "-q30m"});
    cr_assert(r);
    cr_expect_eq(r->log_tag, "sm-msp-queue");
    cr_expect_eq(r->queue_select, 'c');
    cr_expect(r->queue_run);
    cr_expect_eq(r->queue_interval, 1800u);
    r = parse({"-q1h30m"});
    cr_expect_eq(r->queue_interval, 5400u);
    r = parse({"-q"});
    cr_expect(r->queue_run);
    cr_expect_eq(r->queue_interval, 0u);
    r = parse({"-qf"});
    cr_expect(r->queue_foreground);
    r = parse({"-qRexample.org", "-q!Sspam", "-qIABC"});
    cr_assert(r);
    cr_assert_eq(r->filters.size(), 3u);
    cr_expect_eq(r->filters[0].kind, 'R');
    cr_expect_eq(r->filters[1].kind, 'S');
    cr_expect(r->filters[1].negate);
    cr_expect_eq(r->filters[2].substr, "ABC");
}

Test(options, dangerous_options_give_up_the_group) {
    struct Case {
        std::vector<std::string> args;
        bool dangerous;
    } cases[] = {
        {{"-C", "/tmp/x.conf"}, true},
        {{"-oQ/tmp"}, true},
        {{"-oA/tmp/al"}, true},
        {{"-d8.1"}, true},
        {{"-OQueueDirectory=/tmp"}, true},
        {{"-oi"}, false},
        {{"-oem"}, false},
        {{"-odb"}, false},
        {{"-OIgnoreDots=true"}, false},
        {{"-d0.1"}, false},
        {{"-oL9"}, false},
    };
    for (const auto& c : cases) {
        auto r = parse(c.args);
        cr_assert(r, "%s", c.args[0].c_str());
        cr_expect_eq(r->dangerous, c.dangerous, "%s", c.args[0].c_str());
    }
}

Test(options, filters) {
    std::vector<QueueFilter> f = {{'R', false, "example.org"}};
    cr_expect(filters_match(f, "ID1", "a@b", {"x@EXAMPLE.org"}));
    cr_expect(!filters_match(f, "ID1", "a@b", {"x@other.org"}));
    f = {{'S', true, "spam"}};
    cr_expect(filters_match(f, "ID1", "a@b", {}));
    cr_expect(!filters_match(f, "ID1", "spammer@b", {}));
    f = {{'I', false, "AB"}, {'I', false, "CD"}};
    cr_expect(filters_match(f, "xxCDxx", "", {}));
    cr_expect(!filters_match(f, "xxEFxx", "", {}));
    cr_expect(filters_match({}, "any", "", {}));
}

Test(options, queue_groups_quarantine_and_lost_items) {
    struct Bad {
        std::vector<std::string> args;
        const char* words;
    } bad[] = {
        {{"-qGother"}, "Queue group other unknown"},
        {{"-qG"}, "needs a queue group name"},
        {{"-q!G"}, "not allowed"},
        {{"-qLx"}, "-qL takes no argument"},
        {{"-q!L"}, "-qL takes no argument"},
    };
    for (const auto& c : bad) {
        auto r = parse(c.args);
        cr_assert(!r, "%s should fail", c.args[0].c_str());
        cr_expect_eq(r.error().exit, Exit::usage, "%s", c.args[0].c_str());
        cr_expect(r.error().message.find(c.words) != std::string::npos, "%s: %s", c.args[0].c_str(),
                  r.error().message.c_str());
    }
    auto g = parse({"-qGmqueue"});
    cr_assert(g);
    cr_expect_eq(g->queue_group, "mqueue");
    cr_expect(g->queue_run);
    auto l = parse({"-bp", "-qL"});
    cr_assert(l);
    cr_expect(l->lost_items);
    auto q = parse({"-qQspam", "-q!Qvirus"});
    cr_assert(q);
    cr_assert_eq(q->filters.size(), 2u);
    cr_expect_eq(q->filters[0].kind, 'Q');
    cr_expect_eq(q->filters[0].substr, "spam");
    cr_expect(q->filters[1].negate);
    // -qQ alone selects every held message; a message not held never matches it.
    std::vector<QueueFilter> any = {{'Q', false, ""}};
    cr_expect(filters_match(any, "ID", "a@b", {}, true, "held"));
    cr_expect(!filters_match(any, "ID", "a@b", {}, false, ""));
    std::vector<QueueFilter> spam = {{'Q', false, "spam"}};
    cr_expect(filters_match(spam, "ID", "a@b", {}, true, "looks like SPAM"));
    cr_expect(!filters_match(spam, "ID", "a@b", {}, true, "virus"));
    std::vector<QueueFilter> not_spam = {{'Q', true, "spam"}};
    cr_expect(filters_match(not_spam, "ID", "a@b", {}, false, ""));
    cr_expect(!filters_match(not_spam, "ID", "a@b", {}, true, "spam"));
}

Test(options, safe_unused_long_options_warn_without_dropping_the_group) {
    auto r = parse({"-OSevenBitInput=False", "x"});
    cr_assert(r);
    cr_expect(!r->dangerous);
    cr_assert_eq(r->warnings.size(), 1u);
    cr_expect(r->warnings[0].find("SevenBitInput") != std::string::npos);
    auto d = parse({"-OMaxHopCount=30", "x"});
    cr_assert(d);
    cr_expect(d->dangerous);
}

Test(options, boolean_option_values_read_as_sendmails) {
    // sendmail: an empty value or one starting with t, T, y or Y is true, anything else
    // false.
    struct Case {
        std::vector<std::string> args;
        bool ignore_dots;
    } cases[] = {
        {{"-oi"}, true},
        {{"-oiTrue"}, true},
        {{"-oiyes"}, true},
        {{"-oif"}, false},
        {{"-oiFalse"}, false},
        {{"-oino"}, false},
        {{"-oiN"}, false},
        {{"-OIgnoreDots"}, true},
        {{"-OIgnoreDots=Yes"}, true},
        {{"-OIgnoreDots=no"}, false},
        {{"-O", "IgnoreDots=False"}, false},
        {{"-O", "IgnoreDots = True"}, true},
        {{"-O", "IgnoreDots = no"}, false},
    };
    for (const auto& c : cases) {
        auto r = parse(c.args);
        cr_assert(r, "%s", c.args.back().c_str());
        cr_expect_eq(r->ignore_dots, c.ignore_dots, "%s", c.args.back().c_str());
    }
    auto m = parse({"-OMeToo=False", "-OVerbose=no", "x"});
    cr_assert(m);
    cr_expect(!m->me_too);
    cr_expect(!m->verbose);
}
