// store_memory.cpp - the in-memory queue store: two maps behind a mutex. Used by unit
// tests and by `queue_store = memory` to measure the protocol path without disk writes.
// Nothing survives the process; flush() is a no-op. Same contract as store.hpp otherwise
// (duplicate IDs refused, update of an unknown ID fails).
#include <map>
#include <mutex>

#include "queue/store.hpp"

namespace tegami::queue {

namespace {

class MemoryStore final : public QueueStore {
  public:
    PutStatus put(const Envelope& env, std::string_view body, std::string& err) override {
        std::lock_guard lock(mu_);
        if (closed_) return fail_put(err);
        if (envelopes_.count(env.queue_id)) return PutStatus::duplicate;
        envelopes_.emplace(env.queue_id, encode_envelope(env));
        bodies_.emplace(env.queue_id, std::string(body));
        return PutStatus::ok;
    }
    Result<void> flush() override {
        std::lock_guard lock(mu_);
        if (closed_) return closed_error();
        return {};
    }
    Result<Envelope> load_envelope(std::string_view qid) override {
        std::lock_guard lock(mu_);
        auto it = envelopes_.find(std::string(qid));
        if (it == envelopes_.end()) return not_found(qid);
        return decode_envelope(qid, it->second);
    }
    Result<std::string> load_body(std::string_view qid) override {
        std::lock_guard lock(mu_);
        auto it = bodies_.find(std::string(qid));
        if (it == bodies_.end()) return not_found(qid);
        return it->second;
    }
    Result<void> update(const Envelope& env) override {
        std::lock_guard lock(mu_);
        auto it = envelopes_.find(env.queue_id);
        if (it == envelopes_.end()) return not_found(env.queue_id);
        it->second = encode_envelope(env);
        return {};
    }
    Result<void> remove(std::string_view qid) override {
        std::lock_guard lock(mu_);
        if (!envelopes_.erase(std::string(qid))) return not_found(qid);
        bodies_.erase(std::string(qid));
        return {};
    }
    PutStatus remove_and_put(std::string_view qid, const Envelope& env, std::string_view body,
                             std::string& err) override {
        std::lock_guard lock(mu_);
        if (closed_) return fail_put(err);
        if (!envelopes_.count(std::string(qid))) {
            err = std::string(qid) + ": not in the queue";
            return PutStatus::failed;
        }
        if (envelopes_.count(env.queue_id)) return PutStatus::duplicate;
        envelopes_.erase(std::string(qid));
        bodies_.erase(std::string(qid));
        envelopes_.emplace(env.queue_id, encode_envelope(env));
        bodies_.emplace(env.queue_id, std::string(body));
        return PutStatus::ok;
    }
    PutStatus update_and_put(const Envelope& env, const Envelope& new_env, std::string_view body,
                             std::string& err) override {
        std::lock_guard lock(mu_);
        if (closed_) return fail_put(err);
        auto it = envelopes_.find(env.queue_id);
        if (it == envelopes_.end()) {
            err = env.queue_id + ": not in the queue";
            return PutStatus::failed;
        }
        if (envelopes_.count(new_env.queue_id)) return PutStatus::duplicate;
        it->second = encode_envelope(env);
        envelopes_.emplace(new_env.queue_id, encode_envelope(new_env));
        bodies_.emplace(new_env.queue_id, std::string(body));
        return PutStatus::ok;
    }
    Result<void> scan(const std::function<void(Envelope&&)>& each,
                      const std::function<void(const Error&)>& bad) override {
        std::map<std::string, std::string> copy;
        {
            std::lock_guard lock(mu_);
            copy = envelopes_;
        }
        for (auto& [qid, rec] : copy) {
            auto env = decode_envelope(qid, rec);
            if (env) {
                each(std::move(env.value()));
            } else {
                bad(env.error());
            }
        }
        return {};
    }
    Result<void> checkpoint() override { return flush(); }
    Result<void> close() override {
        std::lock_guard lock(mu_);
        closed_ = true;
        return {};
    }
    const char* kind() const override { return "memory"; }

  private:
    static Error not_found(std::string_view qid) {
        return make_error(Exit::no_input, std::string(qid) + ": not in the queue");
    }
    static Error closed_error() { return make_error(Exit::software, "queue store closed"); }
    static PutStatus fail_put(std::string& err) {
        err = "queue store closed";
        return PutStatus::failed;
    }

    std::mutex mu_;
    std::map<std::string, std::string> envelopes_;  // encoded, as the BDB store keeps them
    std::map<std::string, std::string> bodies_;
    bool closed_ = false;
};

}  // namespace

std::unique_ptr<QueueStore> make_memory_store() {
    return std::make_unique<MemoryStore>();
}

}  // namespace tegami::queue
