#pragma once
// TLS client connections over mbedTLS, as an Asio/Beast stream (HTTP and WebSocket).
//
// Why not OpenSSL (Asio's ssl::stream): the agent must stay within 4 MiB PSS beside etcd, and
// OpenSSL 3 costs more than that budget leaves. Measured here (qw-bench-agent-footprint --tls and
// a standalone handshake probe): linking libcrypto alone dirties ~430 KB of relocated data in
// every process, an SSL_CTX costs ~270 KB of heap before the first connection (it fetches every
// cipher, digest, group and signature algorithm of the default provider), and the code a
// handshake touches maps ~1.3 MB of libcrypto/libssl pages. The same handshake with mbedTLS 2.28
// (Debian 12's libmbedtls-dev, linked statically) costs ~40 KB of heap per connection and ~0.8 MB
// of library pages.
// The aggregator, which serves TLS, keeps OpenSSL.
//
// Limits of mbedTLS 2.28: TLS 1.2 only (etcd accepts it unless --tls-min-version=TLS1.3), no
// iPAddress matching of its own (done here: an IP-literal host must be in the certificate's IP
// subject alternative names).
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/role.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/websocket/teardown.hpp>
#include <boost/system/error_code.hpp>

namespace qw {

// CA chain, client certificate and key, parsed once and shared by every connection made with it.
class TlsClientContext {
 public:
  struct Impl;
  explicit TlsClientContext(std::unique_ptr<Impl> impl);
  ~TlsClientContext();
  Impl& impl() { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

// ca: PEM file of trusted CAs (empty: the system store, /etc/ssl/certs); cert/key: the client
// identity (both or neither). Throws std::runtime_error with a readable message (start-up only).
std::shared_ptr<TlsClientContext> makeClientTls(const std::string& ca, const std::string& cert,
                                                const std::string& key);

// Errors of the TLS layer: mbedTLS codes (negative) and certificate verification flags
// (positive), with mbedTLS's own wording.
const boost::system::error_category& tlsCategory();

// One TLS session without I/O of its own: ciphertext goes in through inputSpace()/commitInput()
// and comes out through takeOutput(); the stream below moves it to and from the socket.
class TlsEngine {
 public:
  enum class Step { done, need_input, error };
  // host: an IP literal (checked against the certificate's IP SANs) or a DNS name (SNI and
  // name check). Throws std::runtime_error if the session cannot be set up.
  TlsEngine(std::shared_ptr<TlsClientContext> ctx, const std::string& host);
  ~TlsEngine();
  TlsEngine(const TlsEngine&) = delete;
  TlsEngine& operator=(const TlsEngine&) = delete;

  Step handshake(boost::system::error_code& ec);
  // Plaintext out of the session; n = 0 never comes with done (end of stream is an error, eof).
  Step read(void* data, size_t size, size_t& n, boost::system::error_code& ec);
  // Plaintext into the session (at most one record's worth: n may be less than size).
  Step write(const void* data, size_t size, size_t& n, boost::system::error_code& ec);
  bool hasOutput() const { return !out_.empty(); }
  std::vector<unsigned char> takeOutput();
  boost::asio::mutable_buffer inputSpace();
  void commitInput(size_t n) { in_end_ += n; }

 private:
  static int sendCb(void* self, const unsigned char* buf, size_t len);
  static int recvCb(void* self, unsigned char* buf, size_t len);
  struct Session;
  std::shared_ptr<TlsClientContext> ctx_;
  std::unique_ptr<Session> ssl_;
  std::vector<unsigned char> in_, out_;
  size_t in_begin_ = 0, in_end_ = 0;
};

class TlsStream;

namespace detail {

// The first non-empty buffer of a sequence (Buffer: mutable_buffer or const_buffer); a TLS read or
// write moves at most one record's worth at a time anyway.
template <class Buffer, class Buffers>
Buffer firstNonEmpty(const Buffers& b) {
  for (auto it = boost::asio::buffer_sequence_begin(b); it != boost::asio::buffer_sequence_end(b);
       ++it)
    if (Buffer m(*it); m.size() > 0) return m;
  return {};
}

}  // namespace detail

// A TLS client stream over a Beast tcp_stream (whose deadlines cover every read and write the
// TLS layer makes). Satisfies AsyncReadStream and AsyncWriteStream; one read and one write may be
// outstanding at once (a WebSocket reads acks while it writes batches).
class TlsStream {
 public:
  using next_layer_type = boost::beast::tcp_stream;
  using executor_type = next_layer_type::executor_type;

  TlsStream(next_layer_type next, std::shared_ptr<TlsClientContext> ctx, const std::string& host)
      : next_(std::move(next)), engine_(std::make_unique<TlsEngine>(std::move(ctx), host)) {}

  next_layer_type& next_layer() { return next_; }
  executor_type get_executor() { return next_.get_executor(); }
  TlsEngine& engine() { return *engine_; }

  // After the TCP connect. On failure ec says why ("certificate verify failed: ...").
  boost::asio::awaitable<void> handshake(boost::system::error_code& ec);

  template <class MutableBuffers, class Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    return boost::asio::async_compose<Token, void(boost::system::error_code, std::size_t)>(
        ReadOp{*this, detail::firstNonEmpty<boost::asio::mutable_buffer>(buffers)}, token, next_);
  }

  template <class ConstBuffers, class Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    return boost::asio::async_compose<Token, void(boost::system::error_code, std::size_t)>(
        WriteOp{*this, detail::firstNonEmpty<boost::asio::const_buffer>(buffers)}, token, next_);
  }

 private:
  // Completion is never invoked from inside the initiating call: a result known at once is
  // posted first (state 2).
  struct ReadOp {
    TlsStream& s;
    boost::asio::mutable_buffer buf;
    int state = 0;
    boost::system::error_code result_ec{};
    std::size_t result_n = 0;

    template <class Self>
    void operator()(Self& self, boost::system::error_code ec = {}, std::size_t n = 0) {
      if (state == 2) return self.complete(result_ec, result_n);
      if (state == 1) {
        if (ec) return self.complete(ec, 0);
        s.engine().commitInput(n);
      }
      if (buf.size() == 0) return finish(self, {}, 0);
      std::size_t got = 0;
      auto step = s.engine().read(buf.data(), buf.size(), got, ec);
      if (step == TlsEngine::Step::done) return finish(self, {}, got);
      if (step == TlsEngine::Step::error) return finish(self, ec, 0);
      state = 1;
      s.next_.async_read_some(s.engine().inputSpace(), std::move(self));
    }
    template <class Self>
    void finish(Self& self, boost::system::error_code ec, std::size_t n) {
      if (state != 0) return self.complete(ec, n);
      state = 2;
      result_ec = ec;
      result_n = n;
      boost::asio::post(s.get_executor(), std::move(self));
    }
  };

  struct WriteOp {
    TlsStream& s;
    boost::asio::const_buffer buf;
    int state = 0;
    boost::system::error_code result_ec{};
    std::size_t result_n = 0;
    std::vector<unsigned char> out{};  // a moved vector keeps its data where it was

    template <class Self>
    void operator()(Self& self, boost::system::error_code ec = {}, std::size_t = 0) {
      if (state == 2) return self.complete(result_ec, result_n);
      if (state == 1) return self.complete(ec, ec ? 0 : result_n);
      std::size_t put = 0;
      if (buf.size() > 0 &&
          s.engine().write(buf.data(), buf.size(), put, ec) != TlsEngine::Step::done) {
        state = 2;
        result_ec = ec;
        return boost::asio::post(s.get_executor(), std::move(self));
      }
      out = s.engine().takeOutput();
      result_n = put;
      state = 1;
      auto b = boost::asio::buffer(out);
      boost::asio::async_write(s.next_, b, std::move(self));
    }
  };

  next_layer_type next_;
  std::unique_ptr<TlsEngine> engine_;
};

// WebSocket teardown (found by argument-dependent lookup): the TCP side closes the connection;
// the WebSocket close handshake already ended the session, so no TLS close_notify is sent.
void teardown(boost::beast::role_type role, TlsStream& stream, boost::system::error_code& ec);

template <class TeardownHandler>
void async_teardown(boost::beast::role_type role, TlsStream& stream, TeardownHandler&& handler) {
  boost::beast::websocket::async_teardown(role, stream.next_layer().socket(),
                                          std::forward<TeardownHandler>(handler));
}

}  // namespace qw
