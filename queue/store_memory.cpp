// store_memory.cpp - the in-memory queue store: two maps and a due index behind a mutex. Used by
// unit tests and by `queue_store = memory` to measure the protocol path without disk writes.
// Nothing survives the process; flush() is a no-op. Same contract as store.hpp otherwise
// (duplicate IDs refused, update of an unknown ID fails).
#include <algorithm>
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <utility>
#include <vector>

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
        index(env.queue_id, &env);
        return PutStatus::ok;
    }
    PutStatus put_chunk(std::string_view qid, uint32_t index, std::string_view bytes,
                        std::string& err) override {
        std::lock_guard lock(mu_);
        if (closed_) return fail_put(err);
        auto& chunks = chunks_[std::string(qid)];
        if (!chunks.emplace(index, std::string(bytes)).second) return PutStatus::duplicate;
        return PutStatus::ok;
    }
    PutStatus put_streamed(const Envelope& env, std::string_view head, uint32_t n,
                           std::string& err) override {
        std::lock_guard lock(mu_);
        if (closed_) return fail_put(err);
        if (envelopes_.count(env.queue_id)) return PutStatus::duplicate;
        auto it = chunks_.find(env.queue_id);
        std::string body(head);
        for (uint32_t i = 1; i <= n; ++i) {
            auto c = it == chunks_.end() ? decltype(it->second.end()){} : it->second.find(i);
            if (it == chunks_.end() || c == it->second.end()) {
                err = env.queue_id + ": chunk " + std::to_string(i) + " missing";
                return PutStatus::failed;
            }
            body += c->second;
        }
        if (it != chunks_.end()) chunks_.erase(it);
        envelopes_.emplace(env.queue_id, encode_envelope(env));
        bodies_.emplace(env.queue_id, std::move(body));
        index(env.queue_id, &env);
        return PutStatus::ok;
    }
    uint64_t streamed_bytes(std::string_view qid) override {
        std::lock_guard lock(mu_);
        uint64_t n = 0;
        if (auto it = chunks_.find(std::string(qid)); it != chunks_.end())
            for (const auto& [i, c] : it->second)
                n += c.size();
        return n;
    }
    Result<void> remove_chunks(std::string_view qid, uint32_t) override {
        std::lock_guard lock(mu_);
        chunks_.erase(std::string(qid));
        return {};
    }
    Result<size_t> remove_orphan_bodies() override {
        std::lock_guard lock(mu_);
        size_t n = chunks_.size();
        chunks_.clear();
        return n;
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
    Result<std::string> load_body_prefix(std::string_view qid, uint64_t max) override {
        std::lock_guard lock(mu_);
        auto it = bodies_.find(std::string(qid));
        if (it == bodies_.end()) return not_found(qid);
        return it->second.substr(0, static_cast<size_t>(std::min<uint64_t>(max, SIZE_MAX)));
    }
    Result<void> update(const Envelope& env) override {
        std::lock_guard lock(mu_);
        auto it = envelopes_.find(env.queue_id);
        if (it == envelopes_.end()) return not_found(env.queue_id);
        it->second = encode_envelope(env);
        index(env.queue_id, &env);
        return {};
    }
    Result<void> remove(std::string_view qid) override {
        std::lock_guard lock(mu_);
        if (!envelopes_.erase(std::string(qid))) return not_found(qid);
        bodies_.erase(std::string(qid));
        index(qid, nullptr);
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
        index(qid, nullptr);
        envelopes_.emplace(env.queue_id, encode_envelope(env));
        bodies_.emplace(env.queue_id, std::string(body));
        index(env.queue_id, &env);
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
        index(env.queue_id, &env);
        envelopes_.emplace(new_env.queue_id, encode_envelope(new_env));
        bodies_.emplace(new_env.queue_id, std::string(body));
        index(new_env.queue_id, &new_env);
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
    Result<void> scan_due(uint64_t until,
                          const std::function<bool(std::string_view, uint64_t)>& each,
                          uint64_t& next) override {
        next = UINT64_MAX;
        std::vector<std::pair<uint64_t, std::string>> due;
        {
            std::lock_guard lock(mu_);
            if (closed_) return closed_error();
            for (const auto& e : due_) {
                if (e.first > until) {
                    next = e.first;
                    break;
                }
                due.push_back(e);
            }
        }
        for (const auto& [when, qid] : due)
            if (!each(qid, when)) {
                next = UINT64_MAX;
                break;
            }
        return {};
    }
    Result<void> scan_after(std::string_view after, const std::function<bool(Envelope&&)>& each,
                            const std::function<void(const Error&)>& bad) override {
        std::vector<std::pair<std::string, std::string>> copy;
        {
            std::lock_guard lock(mu_);
            if (closed_) return closed_error();
            for (auto it = envelopes_.upper_bound(std::string(after)); it != envelopes_.end(); ++it)
                copy.emplace_back(it->first, it->second);
        }
        for (auto& [qid, rec] : copy) {
            auto env = decode_envelope(qid, rec);
            if (!env) {
                bad(env.error());
            } else if (!each(std::move(env.value()))) {
                break;
            }
        }
        return {};
    }
    Result<uint64_t> body_size(std::string_view qid) override {
        std::lock_guard lock(mu_);
        if (closed_) return closed_error();
        auto it = bodies_.find(std::string(qid));
        if (it == bodies_.end()) return not_found(qid);
        return static_cast<uint64_t>(it->second.size());
    }
    Result<void> checkpoint() override { return flush(); }
    Result<void> close() override {
        std::lock_guard lock(mu_);
        closed_ = true;
        return {};
    }
    const char* kind() const override { return "memory"; }

  private:
    // Replaces qid's entry in the due index (none for env == nullptr or a held message).
    void index(std::string_view qid, const Envelope* env) {
        std::string id(qid);
        if (auto it = due_of_.find(id); it != due_of_.end()) {
            due_.erase({it->second, id});
            due_of_.erase(it);
        }
        if (!env) return;
        auto due = envelope_due(*env);
        if (!due) return;
        due_.emplace(*due, id);
        due_of_.emplace(std::move(id), *due);
    }
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
    std::map<std::string, std::map<uint32_t, std::string>> chunks_;  // streamed, no envelope yet
    std::set<std::pair<uint64_t, std::string>> due_;                 // (due time, queue ID)
    std::map<std::string, uint64_t> due_of_;
    bool closed_ = false;
};

}  // namespace

std::unique_ptr<QueueStore> make_memory_store() {
    return std::make_unique<MemoryStore>();
}

}  // namespace tegami::queue
