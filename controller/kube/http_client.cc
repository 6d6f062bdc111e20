#include "controller/kube/http_client.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/files.h"
#include "common/strings.h"
#include "controller/kube/json.h"
#include "controller/kube/status.h"
#include "controller/kube/watch_decoder.h"
#include "cpprest/http_client.h"
#include "cpprest/producerconsumerstream.h"

namespace drover::kube {
namespace {

namespace http = web::http;
using http::client::http_client;
using http::client::http_client_config;

constexpr size_t kMaxTokenBytes = 64 * 1024;
constexpr size_t kReadChunkBytes = 64 * 1024;
// A watch without timeoutSeconds lasts as long as the server's --min-request-timeout allows,
// randomised up to twice its default of 30 minutes.
constexpr absl::Duration kServerWatchTimeout = absl::Minutes(60);
constexpr char kUserAgent[] = "drover-controller/0.1";

void Log(std::string_view line) {
  std::fprintf(stderr, "drover-controller: kube: %.*s\n", static_cast<int>(line.size()),
               line.data());
}

// RFC 3986 unreserved characters stay, everything else is percent-encoded.
std::string QueryEscape(std::string_view value) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(value.size());
  for (const char c : value) {
    const auto u = static_cast<unsigned char>(c);
    if (absl::ascii_isalnum(u) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 15]);
    }
  }
  return out;
}

void AddParam(std::string& target, std::string_view name, std::string_view value) {
  if (value.empty()) return;
  target.push_back(target.find('?') == std::string::npos ? '?' : '&');
  absl::StrAppend(&target, AsAbsl(name), "=", QueryEscape(value));
}

// The path without its query, for messages: continue tokens are long and say nothing.
std::string_view PathOnly(std::string_view path_and_query) {
  return path_and_query.substr(0, path_and_query.find('?'));
}

std::chrono::microseconds ToChrono(absl::Duration d) {
  return std::chrono::microseconds(absl::ToInt64Microseconds(d));
}

// A cpprestsdk failure (no HTTP answer) as a status.
absl::Status TransportError(std::string_view request, const std::exception& e) {
  if (dynamic_cast<const web::uri_exception*>(&e) != nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(AsAbsl(request), ": bad URI: ", e.what()));
  }
  if (const auto* he = dynamic_cast<const http::http_exception*>(&e)) {
    const std::error_code& code = he->error_code();
    if (code == std::errc::timed_out) {
      return absl::DeadlineExceededError(absl::StrCat(AsAbsl(request), ": timed out"));
    }
    if (code == std::errc::operation_canceled) {
      return absl::CancelledError(absl::StrCat(AsAbsl(request), ": cancelled"));
    }
    // cpprestsdk's what() says where it failed ("Retrieving message chunk header"); the code
    // says why ("Connection reset by peer"). Boost's end-of-file (misc category, value 2)
    // reaches us as a generic code 2, which would read as ENOENT.
    if (code) {
      const std::string why = code.value() == ENOENT ? "connection closed" : code.message();
      return absl::UnavailableError(absl::StrCat(AsAbsl(request), ": ", e.what(), " (", why, ")"));
    }
  }
  return absl::UnavailableError(absl::StrCat(AsAbsl(request), ": ", e.what()));
}

// --- TLS --------------------------------------------------------------------------------------

// The certificates of a PEM bundle as an OpenSSL store; nullptr when there is none.
X509_STORE* StoreFromPem(const std::string& pem, int& count) {
  count = 0;
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  if (bio == nullptr) return nullptr;
  X509_STORE* store = X509_STORE_new();
  while (store != nullptr) {
    X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
    if (cert == nullptr) break;
    if (X509_STORE_add_cert(store, cert) == 1) ++count;
    X509_free(cert);
  }
  ERR_clear_error();  // the loop ends on a "no start line" error
  BIO_free(bio);
  if (count == 0 && store != nullptr) {
    X509_STORE_free(store);
    store = nullptr;
  }
  return store;
}

struct TlsMaterial {
  std::string ca_pem;
  std::string certificate_pem;
  std::string key_pem;
};

// Loads the client certificate and key into `context`; an error names what is wrong.
absl::Status UseClientCertificate(boost::asio::ssl::context& context, const TlsMaterial& tls) {
  boost::system::error_code ec;
  context.use_certificate_chain(boost::asio::buffer(tls.certificate_pem), ec);
  if (ec) return absl::InvalidArgumentError(absl::StrCat("client certificate: ", ec.message()));
  context.use_private_key(boost::asio::buffer(tls.key_pem), boost::asio::ssl::context::pem, ec);
  if (ec) return absl::InvalidArgumentError(absl::StrCat("client key: ", ec.message()));
  if (SSL_CTX_check_private_key(context.native_handle()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError("client key does not match the client certificate");
  }
  return absl::OkStatus();
}

// Run by cpprestsdk for every new TLS connection, after it loaded the system roots: a
// configured CA bundle replaces them (the cluster's CA is the only one to trust), and the
// client certificate is added. Checked once by CheckTls, so failures here are not expected.
void ConfigureTls(const std::shared_ptr<const TlsMaterial>& tls,
                  boost::asio::ssl::context& context) {
  if (!tls->ca_pem.empty()) {
    int count = 0;
    if (X509_STORE* store = StoreFromPem(tls->ca_pem, count)) {
      SSL_CTX_set_cert_store(context.native_handle(), store);  // takes ownership
    }
  }
  if (!tls->certificate_pem.empty()) {
    if (absl::Status s = UseClientCertificate(context, *tls); !s.ok()) Log(AsStd(s.message()));
  }
}

absl::Status CheckTls(const TlsMaterial& tls) {
  if (!tls.ca_pem.empty()) {
    int count = 0;
    X509_STORE* store = StoreFromPem(tls.ca_pem, count);
    if (store == nullptr) return absl::InvalidArgumentError("no certificate in the CA bundle");
    X509_STORE_free(store);
  }
  if (!tls.certificate_pem.empty()) {
    try {
      boost::asio::ssl::context scratch(boost::asio::ssl::context::tls_client);
      return UseClientCertificate(scratch, tls);
    } catch (const std::exception& e) {
      return absl::InternalError(absl::StrCat("TLS context: ", e.what()));
    }
  }
  return absl::OkStatus();
}

// --- tokens -----------------------------------------------------------------------------------

// The bearer token to send: fixed, or read from a file at most every `interval`. A failed
// re-read keeps the last good token (the kubelet rewrites the file atomically, but an
// operator's file may be mid-edit) and says so.
class TokenSource {
 public:
  explicit TokenSource(const KubeClientConfig& config)
      : fixed_(config.bearer_token),
        file_(config.token_file),
        interval_(config.token_reload_interval),
        now_(config.now) {}

  std::string Get() {
    if (file_.empty()) return fixed_;
    absl::MutexLock lock(&mu_);
    const absl::Time now = now_();
    if (loaded_at_.has_value() && now - *loaded_at_ < interval_) return token_;
    loaded_at_ = now;
    absl::StatusOr<std::string> text = ReadSmallFile(file_, kMaxTokenBytes);
    if (!text.ok()) {
      Log(absl::StrCat("keeping the last token: ", text.status().message()));
      return token_;
    }
    const absl::string_view token = absl::StripAsciiWhitespace(*text);
    if (token.empty()) {
      Log(absl::StrCat("keeping the last token: ", file_, " is empty"));
      return token_;
    }
    token_ = std::string(token);
    return token_;
  }

 private:
  const std::string fixed_;
  const std::string file_;
  const absl::Duration interval_;
  const std::function<absl::Time()> now_;
  absl::Mutex mu_;
  std::string token_ ABSL_GUARDED_BY(mu_);
  std::optional<absl::Time> loaded_at_ ABSL_GUARDED_BY(mu_);
};

// --- watch stream -----------------------------------------------------------------------------

// The Retry-After header of a response, if it has a usable one.
std::optional<absl::Duration> RetryAfterHeader(const http::http_response& response) {
  const auto it = response.headers().find("Retry-After");
  if (it == response.headers().end()) return std::nullopt;
  return ParseRetryAfter(it->second);
}

// The status of a non-2xx answer.
absl::Status ErrorStatus(const http::http_response& response, std::string_view request,
                         std::string_view body) {
  return StatusFromHttp(response.status_code(), request, body, RetryAfterHeader(response));
}

// A watch request in flight. The response head is awaited in the first Next(), not in
// Watch(), so that Cancel() (the reflector's Stop()) also ends a wait for a head that is slow
// to come: an API server queueing the request (API Priority and Fairness holds requests up to
// a minute), or a proxy that holds headers back until the first event.
class HttpWatchStream final : public WatchStream {
 public:
  HttpWatchStream(std::unique_ptr<http_client> client, pplx::cancellation_token_source cancel,
                  pplx::task<http::http_response> pending, std::string request,
                  KubeMetrics* metrics)
      : client_(std::move(client)),
        cancel_(std::move(cancel)),
        pending_(std::move(pending)),
        request_(std::move(request)),
        metrics_(metrics),
        start_(absl::Now()),
        buffer_(kReadChunkBytes) {}

  ~HttpWatchStream() override {
    try {
      // Closes the connection; otherwise it would stay open until the server's timeout.
      cancel_.cancel();
      if (!head_awaited_) {
        // pplx terminates the process when a task's exception is never looked at, and the
        // cancelled request's task ends in one: look at it.
        pending_.then([](const pplx::task<http::http_response>& t) {
          try {
            t.wait();
          } catch (...) {  // observing it is the point
          }
        });
      }
    } catch (...) {  // a destructor must not throw; nothing is left to clean up
    }
  }

  absl::StatusOr<WatchEvent> Next() override {
    if (!opened_) {
      absl::Status s = Open();
      if (!s.ok()) return s;
    }
    while (true) {
      if (cancelled_.load()) return absl::CancelledError(absl::StrCat(request_, ": cancelled"));
      if (std::optional<WatchEvent> event = decoder_.Pop()) return *std::move(event);
      if (!decoder_.status().ok()) return Broken(decoder_.status());
      if (ended_) {
        if (absl::Status s = decoder_.Finish(); !s.ok()) return Broken(s);
        return absl::OutOfRangeError(absl::StrCat(request_, ": watch ended"));
      }
      absl::StatusOr<size_t> n = Read();
      if (!n.ok()) return n.status();
      if (*n == 0) {
        ended_ = true;
      } else {
        // Its error is in decoder_.status(), returned once the events before it are out.
        (void)decoder_.Feed(std::string_view(reinterpret_cast<const char*>(buffer_.data()), *n));
      }
    }
  }

  void Cancel() override {
    cancelled_.store(true);
    cancel_.cancel();
  }

 private:
  // Waits for the response head; a non-200 answer (410, 403, 429...) becomes the status that
  // every later Next() returns too.
  absl::Status Open() {
    if (!open_error_.ok()) return open_error_;
    int status = 0;
    head_awaited_ = true;
    try {
      response_ = pending_.get();
      status = response_.status_code();
      if (metrics_ != nullptr) metrics_->ObserveRequest("watch", status, absl::Now() - start_);
      if (status != http::status_codes::OK) {
        const std::string body = response_.extract_utf8string(true).get();
        open_error_ = ErrorStatus(response_, request_, body);
        return open_error_;
      }
      body_ = response_.body().streambuf();
      opened_ = true;
      return absl::OkStatus();
    } catch (const std::exception& e) {
      open_error_ = TransportError(request_, e);
    } catch (...) {
      open_error_ = absl::UnavailableError(absl::StrCat(request_, ": unknown failure"));
    }
    if (status == 0 && metrics_ != nullptr) {
      metrics_->ObserveRequest("watch", 0, absl::Now() - start_);
    }
    if (cancelled_.load())
      open_error_ = absl::CancelledError(absl::StrCat(request_, ": cancelled"));
    return open_error_;
  }

  absl::Status Broken(const absl::Status& status) const {
    return {status.code(), absl::StrCat(request_, ": ", status.message())};
  }

  // What has arrived, or (when nothing has) blocks for at least one byte: the body buffer's
  // getn(n) waits for all n bytes, so asking for more than is there would hold events back.
  absl::StatusOr<size_t> Read() {
    try {
      const size_t available = body_.in_avail();
      const size_t want = available == 0 ? 1 : std::min(available, buffer_.size());
      return body_.getn(buffer_.data(), want).get();
    } catch (const std::exception& e) {
      if (cancelled_.load()) return absl::CancelledError(absl::StrCat(request_, ": cancelled"));
      return TransportError(request_, e);
    } catch (...) {
      if (cancelled_.load()) return absl::CancelledError(absl::StrCat(request_, ": cancelled"));
      return absl::UnavailableError(absl::StrCat(request_, ": watch stream broken"));
    }
  }

  std::unique_ptr<http_client> client_;
  pplx::cancellation_token_source cancel_;
  pplx::task<http::http_response> pending_;
  std::string request_;
  KubeMetrics* metrics_;
  absl::Time start_;
  bool head_awaited_ = false;  // pending_.get() was called
  bool opened_ = false;
  absl::Status open_error_;
  http::http_response response_;
  concurrency::streams::streambuf<uint8_t> body_;
  std::vector<uint8_t> buffer_;
  WatchDecoder decoder_;
  bool ended_ = false;
  std::atomic<bool> cancelled_{false};
};

// --- client -----------------------------------------------------------------------------------

class HttpKubeClient final : public KubeClient {
 public:
  HttpKubeClient(const KubeClientConfig& config, KubeMetrics* metrics,
                 std::shared_ptr<const TlsMaterial> tls)
      : config_(config), metrics_(metrics), tls_(std::move(tls)), tokens_(config) {}

  absl::Status Init() {
    try {
      base_ = web::uri(config_.server);
      client_ = std::make_unique<http_client>(base_, ClientConfig(config_.request_timeout));
    } catch (const std::exception& e) {
      return absl::InvalidArgumentError(
          absl::StrCat(config_.source.empty() ? "server" : config_.source, ": \"", config_.server,
                       "\": ", e.what()));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<ListPage> List(const ListOptions& options) override {
    std::string target = options.path;
    AddParam(target, "labelSelector", options.label_selector);
    if (options.limit > 0) AddParam(target, "limit", absl::StrCat(options.limit));
    AddParam(target, "continue", options.continue_token);
    AddParam(target, "resourceVersion", options.resource_version);
    absl::StatusOr<std::string> body = Do("list", http::methods::GET, target, std::nullopt);
    if (!body.ok()) return body.status();
    return ParseList(*body, options.path);
  }

  absl::StatusOr<std::unique_ptr<WatchStream>> Watch(const WatchOptions& options) override {
    std::string target = options.path;
    AddParam(target, "watch", "1");
    AddParam(target, "labelSelector", options.label_selector);
    AddParam(target, "resourceVersion", options.resource_version);
    if (options.allow_bookmarks) AddParam(target, "allowWatchBookmarks", "true");
    absl::Duration limit = kServerWatchTimeout;
    if (options.timeout > absl::ZeroDuration()) {
      const int64_t seconds = std::max<int64_t>(1, absl::ToInt64Seconds(options.timeout));
      AddParam(target, "timeoutSeconds", absl::StrCat(seconds));
      limit = absl::Seconds(seconds);
    }
    const std::string request = absl::StrCat("WATCH ", AsAbsl(options.path));
    try {
      // A client of its own: cpprestsdk's timeout is per client, and this one must outlast
      // the watch's own timeout however quiet the watch is.
      auto client =
          std::make_unique<http_client>(base_, ClientConfig(limit + config_.watch_timeout_margin));
      pplx::cancellation_token_source cancel;
      pplx::task<http::http_response> pending =
          client->request(NewRequest(http::methods::GET, target), cancel.get_token());
      return std::make_unique<HttpWatchStream>(std::move(client), std::move(cancel),
                                               std::move(pending), request, metrics_);
    } catch (const std::exception& e) {
      return TransportError(request, e);
    } catch (...) {
      return absl::UnavailableError(absl::StrCat(request, ": unknown failure"));
    }
  }

  absl::StatusOr<std::string> Get(std::string_view path) override {
    return Do("get", http::methods::GET, std::string(path), std::nullopt);
  }

  absl::StatusOr<std::string> Patch(std::string_view path, std::string_view body,
                                    std::string_view content_type) override {
    return Do("patch", http::methods::PATCH, std::string(path),
              Body{std::string(body), std::string(content_type)});
  }

  absl::StatusOr<std::string> Put(std::string_view path, std::string_view body) override {
    return Do("put", http::methods::PUT, std::string(path),
              Body{std::string(body), "application/json"});
  }

 private:
  struct Body {
    std::string text;
    std::string content_type;
  };

  http_client_config ClientConfig(absl::Duration timeout) const {
    http_client_config config;
    config.set_timeout(ToChrono(timeout));
    // The API is reached directly (or through --kube-api's URL), never through a proxy.
    config.set_proxy(web::web_proxy(web::web_proxy::disabled));
    config.set_validate_certificates(!config_.insecure_skip_tls_verify);
    if (tls_ != nullptr) {
      config.set_ssl_context_callback(
          [tls = tls_](boost::asio::ssl::context& context) { ConfigureTls(tls, context); });
    }
    return config;
  }

  http::http_request NewRequest(const http::method& method, const std::string& target) {
    http::http_request request(method);
    request.set_request_uri(target);
    request.headers().add("Accept", "application/json");
    request.headers().add("User-Agent", kUserAgent);
    if (const std::string token = tokens_.Get(); !token.empty()) {
      request.headers().add("Authorization", absl::StrCat("Bearer ", token));
    }
    return request;
  }

  void Observe(std::string_view verb, int status, absl::Time start) const {
    if (metrics_ != nullptr) metrics_->ObserveRequest(verb, status, absl::Now() - start);
  }

  // One request and its whole response body.
  absl::StatusOr<std::string> Do(std::string_view verb, const http::method& method,
                                 const std::string& target, const std::optional<Body>& body) {
    const std::string request = absl::StrCat(method, " ", AsAbsl(PathOnly(target)));
    const absl::Time start = absl::Now();
    try {
      http::http_request req = NewRequest(method, target);
      if (body.has_value()) {
        // A byte vector, not set_body(std::string): cpprestsdk reads a string body through a
        // streambuf<char> cast to streambuf<uint8_t>, undefined behaviour that UBSan stops on.
        // Its content type is only a default, so the header set first stays exactly as given.
        req.headers().set_content_type(body->content_type);
        req.set_body(std::vector<unsigned char>(body->text.begin(), body->text.end()));
      }
      http::http_response response = client_->request(req).get();
      std::string text = response.extract_utf8string(true).get();
      const int status = response.status_code();
      Observe(verb, status, start);
      if (status < 200 || status > 299) return ErrorStatus(response, request, text);
      return text;
    } catch (const std::exception& e) {
      Observe(verb, 0, start);
      return TransportError(request, e);
    } catch (...) {
      Observe(verb, 0, start);
      return absl::UnavailableError(absl::StrCat(request, ": unknown failure"));
    }
  }

  static absl::StatusOr<ListPage> ParseList(std::string_view body, std::string_view path) {
    const std::string where = absl::StrCat("LIST ", AsAbsl(path));
    absl::StatusOr<web::json::value> value = json::Parse(body);
    if (!value.ok()) {
      return absl::InternalError(absl::StrCat(where, ": ", value.status().message()));
    }
    if (!value->is_object()) return absl::InternalError(absl::StrCat(where, ": not a JSON object"));
    ListPage page;
    absl::StatusOr<const web::json::value*> meta = json::GetObject(*value, "metadata", "list");
    absl::StatusOr<const web::json::value*> items = json::GetArray(*value, "items", "list");
    absl::Status s = meta.ok() ? items.status() : meta.status();
    if (s.ok() && *meta != nullptr) {
      s = json::GetString(**meta, "resourceVersion", "list.metadata", page.resource_version);
      if (s.ok()) s = json::GetString(**meta, "continue", "list.metadata", page.continue_token);
    }
    if (!s.ok()) return absl::InternalError(absl::StrCat(where, ": ", s.message()));
    if (*items != nullptr) {
      page.items.reserve((*items)->size());
      for (const web::json::value& item : (*items)->as_array()) {
        absl::StatusOr<std::string> text = json::Serialize(item);
        if (!text.ok()) return text.status();
        page.items.push_back(*std::move(text));
      }
    }
    return page;
  }

  const KubeClientConfig config_;
  KubeMetrics* const metrics_;
  const std::shared_ptr<const TlsMaterial> tls_;
  TokenSource tokens_;
  web::uri base_;
  std::unique_ptr<http_client> client_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<KubeClient>> NewKubeClient(const KubeClientConfig& config,
                                                          KubeMetrics* metrics) {
  std::shared_ptr<const TlsMaterial> tls;
  if (!config.ca_pem.empty() || !config.client_certificate_pem.empty()) {
    auto material = std::make_shared<TlsMaterial>(
        TlsMaterial{config.ca_pem, config.client_certificate_pem, config.client_key_pem});
    if (absl::Status s = CheckTls(*material); !s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(config.source.empty() ? config.server : config.source, ": ", s.message()));
    }
    tls = std::move(material);
  }
  auto client = std::make_unique<HttpKubeClient>(config, metrics, std::move(tls));
  if (absl::Status s = client->Init(); !s.ok()) return s;
  return client;
}

}  // namespace drover::kube
