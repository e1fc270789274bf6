// forwarding_store.hpp - a QueueStore that hands every call to another one, for tests
// that watch or change a few of its calls (override those, call the base for the rest).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "queue/store.hpp"

namespace tegami::queue::test {

class ForwardingStore : public QueueStore {
  public:
    explicit ForwardingStore(std::unique_ptr<QueueStore> inner) : inner_(std::move(inner)) {}
    PutStatus put(const Envelope& e, std::string_view b, std::string& err) override {
        return inner_->put(e, b, err);
    }
    PutStatus put_chunk(std::string_view q, uint32_t i, std::string_view b,
                        std::string& err) override {
        return inner_->put_chunk(q, i, b, err);
    }
    PutStatus put_streamed(const Envelope& e, std::string_view h, uint32_t n,
                           std::string& err) override {
        return inner_->put_streamed(e, h, n, err);
    }
    int body_writer(std::string_view q) override { return inner_->body_writer(q); }
    uint64_t streamed_bytes(std::string_view q) override { return inner_->streamed_bytes(q); }
    Result<void> remove_chunks(std::string_view q, uint32_t n) override {
        return inner_->remove_chunks(q, n);
    }
    Result<size_t> remove_orphan_bodies() override { return inner_->remove_orphan_bodies(); }
    Result<void> flush() override { return inner_->flush(); }
    void reclaim() override { inner_->reclaim(); }
    Result<Envelope> load_envelope(std::string_view q) override { return inner_->load_envelope(q); }
    Result<std::string> load_body(std::string_view q) override { return inner_->load_body(q); }
    Result<std::string> load_body_prefix(std::string_view q, uint64_t max) override {
        return inner_->load_body_prefix(q, max);
    }
    Result<BodyFd> open_body(std::string_view q) override { return inner_->open_body(q); }
    Result<void> update(const Envelope& e) override { return inner_->update(e); }
    Result<void> remove(std::string_view q) override { return inner_->remove(q); }
    PutStatus remove_and_put(std::string_view q, const Envelope& e, std::string_view b,
                             std::string& err) override {
        return inner_->remove_and_put(q, e, b, err);
    }
    PutStatus update_and_put(const Envelope& e, const Envelope& n, std::string_view b,
                             std::string& err) override {
        return inner_->update_and_put(e, n, b, err);
    }
    Result<void> scan(const std::function<void(Envelope&&)>& each,
                      const std::function<void(const Error&)>& bad) override {
        return inner_->scan(each, bad);
    }
    Result<void> scan_due(uint64_t until,
                          const std::function<bool(std::string_view, uint64_t)>& each,
                          uint64_t& next) override {
        return inner_->scan_due(until, each, next);
    }
    Result<void> scan_after(std::string_view after, const std::function<bool(Envelope&&)>& each,
                            const std::function<void(const Error&)>& bad) override {
        return inner_->scan_after(after, each, bad);
    }
    Result<uint64_t> body_size(std::string_view q) override { return inner_->body_size(q); }
    Result<void> checkpoint() override { return inner_->checkpoint(); }
    Result<void> close() override { return inner_->close(); }
    const char* kind() const override { return inner_->kind(); }

  protected:
    std::unique_ptr<QueueStore> inner_;
};

}  // namespace tegami::queue::test
