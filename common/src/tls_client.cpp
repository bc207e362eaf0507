#include "qw/tls_client.h"

#include <arpa/inet.h>

#include <cstring>
#include <filesystem>
#include <stdexcept>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace qw {

namespace net = boost::asio;

namespace {

std::string mbedError(int code) {
  char buf[160];
  mbedtls_strerror(code, buf, sizeof buf);
  return buf;
}

// Boost's error_category has a protected non-virtual destructor by design.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnon-virtual-dtor"
class TlsCategory final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "tls"; }
  std::string message(int v) const override {
    if (v > 0) {
      // Verification flags: mbedTLS's one line per flag, joined.
      char buf[512];
      int n = mbedtls_x509_crt_verify_info(buf, sizeof buf, "", static_cast<uint32_t>(v));
      std::string s = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "unknown reason";
      for (auto& c : s)
        if (c == '\n') c = ';';
      while (!s.empty() && (s.back() == ';' || s.back() == ' ')) s.pop_back();
      return "certificate verify failed: " + s;
    }
    return mbedError(v);
  }
};
#pragma GCC diagnostic pop

boost::system::error_code tlsError(int code) { return {code, tlsCategory()}; }

}  // namespace

const boost::system::error_category& tlsCategory() {
  static const TlsCategory cat;
  return cat;
}

struct TlsClientContext::Impl {
  mbedtls_entropy_context entropy;
  mbedtls_ctr_drbg_context drbg;
  mbedtls_x509_crt ca, own;
  mbedtls_pk_context key;
  mbedtls_ssl_config conf;
  Impl() {
    mbedtls_entropy_init(&entropy);
    mbedtls_ctr_drbg_init(&drbg);
    mbedtls_x509_crt_init(&ca);
    mbedtls_x509_crt_init(&own);
    mbedtls_pk_init(&key);
    mbedtls_ssl_config_init(&conf);
  }
  ~Impl() {
    mbedtls_ssl_config_free(&conf);
    mbedtls_pk_free(&key);
    mbedtls_x509_crt_free(&own);
    mbedtls_x509_crt_free(&ca);
    mbedtls_ctr_drbg_free(&drbg);
    mbedtls_entropy_free(&entropy);
  }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;
};

TlsClientContext::TlsClientContext(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TlsClientContext::~TlsClientContext() = default;

std::shared_ptr<TlsClientContext> makeClientTls(const std::string& ca, const std::string& cert,
                                                const std::string& key) {
  auto impl = std::make_unique<TlsClientContext::Impl>();
  auto& c = *impl;
  static const char kPers[] = "quorumwatch";
  if (int r = mbedtls_ctr_drbg_seed(&c.drbg, mbedtls_entropy_func, &c.entropy,
                                    reinterpret_cast<const unsigned char*>(kPers), sizeof kPers);
      r != 0)
    throw std::runtime_error("cannot seed the TLS random generator: " + mbedError(r));
  if (!ca.empty()) {
    if (int r = mbedtls_x509_crt_parse_file(&c.ca, ca.c_str()); r != 0)
      throw std::runtime_error(
          "cannot load CA file '" + ca +
          "': " + (r > 0 ? std::to_string(r) + " certificates in it did not parse" : mbedError(r)));
  } else {
    // The system store, for a public endpoint (the CLI's https URLs); the agent is always given
    // its etcd CA.
    if (mbedtls_x509_crt_parse_path(&c.ca, "/etc/ssl/certs") < 0 || c.ca.version == 0)
      throw std::runtime_error("no CA file given and no usable system store in /etc/ssl/certs");
  }
  if (!cert.empty() || !key.empty()) {
    if (cert.empty() || key.empty())
      throw std::runtime_error("a client certificate needs both a certificate and a key file");
    if (int r = mbedtls_x509_crt_parse_file(&c.own, cert.c_str()); r != 0)
      throw std::runtime_error("cannot load certificate '" + cert +
                               "': " + (r > 0 ? "part of it did not parse" : mbedError(r)));
    if (int r = mbedtls_pk_parse_keyfile(&c.key, key.c_str(), nullptr); r != 0)
      throw std::runtime_error("cannot load key '" + key + "': " + mbedError(r));
    if (int r = mbedtls_pk_check_pair(&c.own.pk, &c.key); r != 0)
      throw std::runtime_error("key '" + key + "' does not belong to certificate '" + cert +
                               "': " + mbedError(r));
  }
  if (int r = mbedtls_ssl_config_defaults(&c.conf, MBEDTLS_SSL_IS_CLIENT,
                                          MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT);
      r != 0)
    throw std::runtime_error("cannot set up TLS: " + mbedError(r));
  mbedtls_ssl_conf_min_version(&c.conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
  mbedtls_ssl_conf_authmode(&c.conf, MBEDTLS_SSL_VERIFY_REQUIRED);
  mbedtls_ssl_conf_rng(&c.conf, mbedtls_ctr_drbg_random, &c.drbg);
  mbedtls_ssl_conf_ca_chain(&c.conf, &c.ca, nullptr);
  if (!cert.empty()) {
    if (int r = mbedtls_ssl_conf_own_cert(&c.conf, &c.own, &c.key); r != 0)
      throw std::runtime_error("cannot use certificate '" + cert + "': " + mbedError(r));
  }
  return std::make_shared<TlsClientContext>(std::move(impl));
}

struct TlsEngine::Session {
  mbedtls_ssl_context ssl;
  // An IP-literal host: its 4 or 16 bytes, then their count (0: a DNS name).
  unsigned char ip[17] = {};
  Session() { mbedtls_ssl_init(&ssl); }
  ~Session() { mbedtls_ssl_free(&ssl); }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
};

namespace {

// mbedTLS 2.28 matches a host name against DNS names and the CN only; an IP-literal host is
// checked here against the certificate's iPAddress subject alternative names (RFC 6125 6.2.1).
int verifyIp(void* p, mbedtls_x509_crt* crt, int depth, uint32_t* flags) {
  if (depth != 0) return 0;
  const auto* s = static_cast<const unsigned char*>(p);
  size_t len = s[16];
  for (const mbedtls_x509_sequence* san = &crt->subject_alt_names; san && san->buf.p;
       san = san->next)
    if (san->buf.tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7) && san->buf.len == len &&
        std::memcmp(san->buf.p, s, len) == 0)
      return 0;
  *flags |= MBEDTLS_X509_BADCERT_CN_MISMATCH;
  return 0;
}

}  // namespace

TlsEngine::TlsEngine(std::shared_ptr<TlsClientContext> ctx, const std::string& host)
    : ctx_(std::move(ctx)), ssl_(std::make_unique<Session>()) {
  if (int r = mbedtls_ssl_setup(&ssl_->ssl, &ctx_->impl().conf); r != 0)
    throw std::runtime_error("cannot set up a TLS session: " + mbedError(r));
  std::string h = host;
  if (h.size() > 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  if (inet_pton(AF_INET, h.c_str(), ssl_->ip) == 1)
    ssl_->ip[16] = 4;
  else if (inet_pton(AF_INET6, h.c_str(), ssl_->ip) == 1)
    ssl_->ip[16] = 16;
  if (ssl_->ip[16]) {
    // No SNI for an address (RFC 6066 3); the name check is verifyIp's.
    mbedtls_ssl_set_verify(&ssl_->ssl, verifyIp, ssl_->ip);
  } else if (int r = mbedtls_ssl_set_hostname(&ssl_->ssl, h.c_str()); r != 0) {
    throw std::runtime_error("bad TLS host name '" + h + "': " + mbedError(r));
  }
  mbedtls_ssl_set_bio(&ssl_->ssl, this, sendCb, recvCb, nullptr);
}

TlsEngine::~TlsEngine() = default;

int TlsEngine::sendCb(void* self, const unsigned char* buf, size_t len) {
  auto& out = static_cast<TlsEngine*>(self)->out_;
  out.insert(out.end(), buf, buf + len);
  return static_cast<int>(len);
}

int TlsEngine::recvCb(void* self, unsigned char* buf, size_t len) {
  auto& e = *static_cast<TlsEngine*>(self);
  size_t avail = e.in_end_ - e.in_begin_;
  if (avail == 0) return MBEDTLS_ERR_SSL_WANT_READ;
  size_t n = std::min(avail, len);
  std::memcpy(buf, e.in_.data() + e.in_begin_, n);
  e.in_begin_ += n;
  if (e.in_begin_ == e.in_end_) e.in_begin_ = e.in_end_ = 0;
  return static_cast<int>(n);
}

net::mutable_buffer TlsEngine::inputSpace() {
  // One full record and its header fit; what is left of an earlier read moves to the front.
  constexpr size_t kSize = 17 * 1024 + 512;
  if (in_.size() < kSize) in_.resize(kSize);
  if (in_begin_ > 0) {
    std::memmove(in_.data(), in_.data() + in_begin_, in_end_ - in_begin_);
    in_end_ -= in_begin_;
    in_begin_ = 0;
  }
  if (in_end_ == in_.size()) in_.resize(in_.size() * 2);
  return net::buffer(in_.data() + in_end_, in_.size() - in_end_);
}

std::vector<unsigned char> TlsEngine::takeOutput() {
  std::vector<unsigned char> out;
  out.swap(out_);
  return out;
}

TlsEngine::Step TlsEngine::handshake(boost::system::error_code& ec) {
  int r = mbedtls_ssl_handshake(&ssl_->ssl);
  if (r == 0) return Step::done;
  if (r == MBEDTLS_ERR_SSL_WANT_READ) return Step::need_input;
  if (r == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED) {
    uint32_t flags = mbedtls_ssl_get_verify_result(&ssl_->ssl);
    ec = flags && flags < 0x80000000u ? tlsError(static_cast<int>(flags)) : tlsError(r);
  } else {
    ec = tlsError(r);
  }
  return Step::error;
}

TlsEngine::Step TlsEngine::read(void* data, size_t size, size_t& n, boost::system::error_code& ec) {
  int r = mbedtls_ssl_read(&ssl_->ssl, static_cast<unsigned char*>(data), size);
  // The read side writes only alerts (a client with renegotiation off answers a HelloRequest
  // with one, and a fatal error sends one): they are dropped, so a write in flight is never
  // interleaved with them. Go's TLS (etcd) never asks for renegotiation.
  out_.clear();
  if (r > 0) {
    n = static_cast<size_t>(r);
    return Step::done;
  }
  if (r == MBEDTLS_ERR_SSL_WANT_READ) return Step::need_input;
  if (r == 0 || r == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY)
    ec = net::error::eof;
  else
    ec = tlsError(r);
  return Step::error;
}

TlsEngine::Step TlsEngine::write(const void* data, size_t size, size_t& n,
                                 boost::system::error_code& ec) {
  int r = mbedtls_ssl_write(&ssl_->ssl, static_cast<const unsigned char*>(data), size);
  if (r >= 0) {
    n = static_cast<size_t>(r);
    return Step::done;
  }
  ec = tlsError(r);
  return Step::error;
}

net::awaitable<void> TlsStream::handshake(boost::system::error_code& ec) {
  for (;;) {
    auto step = engine_->handshake(ec);
    if (engine_->hasOutput()) {
      // Sent even after an error: the alert tells the server why the client gave up.
      auto out = engine_->takeOutput();
      boost::system::error_code wec;
      co_await net::async_write(next_, net::buffer(out),
                                net::redirect_error(net::use_awaitable, wec));
      if (wec && step != TlsEngine::Step::error) ec = wec;
      if (wec) co_return;
    }
    if (step != TlsEngine::Step::need_input) co_return;
    size_t n = co_await next_.async_read_some(engine_->inputSpace(),
                                              net::redirect_error(net::use_awaitable, ec));
    if (ec) co_return;
    engine_->commitInput(n);
  }
}

void teardown(boost::beast::role_type role, TlsStream& stream, boost::system::error_code& ec) {
  boost::beast::websocket::teardown(role, stream.next_layer().socket(), ec);
}

}  // namespace qw
