#include "controller/http/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <exception>
#include <sstream>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "cpprest/http_listener.h"
#include "prometheus/text_serializer.h"

namespace drover::controller {
namespace {

using web::http::http_request;
using web::http::methods;
using web::http::status_codes;

void Reply(const http_request& request, web::http::status_code code, const std::string& type,
           std::string body) {
  // A client that went away makes reply() throw through its task: nothing to do about it.
  request.reply(code, std::move(body), type).then([](const pplx::task<void>& done) {
    try {
      done.wait();
    } catch (const std::exception&) {
    }
  });
}

// "127.0.0.1:0" -> "127.0.0.1:PORT" with a port that was free a moment ago.
absl::StatusOr<std::string> ResolvePortZero(const std::string& address) {
  size_t colon = address.rfind(':');
  if (colon == std::string::npos || address.substr(colon + 1) != "0") return address;
  std::string host = address.substr(0, colon);
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  if (inet_pton(AF_INET, host.c_str(), &sin.sin_addr) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot listen on ", address, ": port 0 needs an IPv4 address"));
  }
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  socklen_t len = sizeof(sin);
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&sin), sizeof(sin)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&sin), &len) != 0) {
    if (fd >= 0) close(fd);
    return absl::UnavailableError(absl::StrCat("cannot listen on ", address));
  }
  close(fd);
  return absl::StrCat(host, ":", ntohs(sin.sin_port));
}

}  // namespace

HttpServer::HttpServer(std::string address, std::shared_ptr<prometheus::Registry> registry,
                       HttpHandlers handlers)
    : address_(std::move(address)),
      registry_(std::move(registry)),
      handlers_(std::move(handlers)) {}

HttpServer::~HttpServer() { Stop(); }

absl::Status HttpServer::Start() {
  // cpprestsdk cannot say which port it bound for port 0: pick a free one first.
  absl::StatusOr<std::string> address = ResolvePortZero(address_);
  if (!address.ok()) return address.status();
  bound_address_ = *address;
  try {
    listener_ = std::make_unique<web::http::experimental::listener::http_listener>(
        web::uri(absl::StrCat("http://", bound_address_)));
    listener_->support([this](const http_request& request) {
      const std::string path = request.relative_uri().path();
      if (request.method() != methods::GET && request.method() != methods::HEAD) {
        Reply(request, status_codes::MethodNotAllowed, "text/plain", "GET only\n");
      } else if (path == "/metrics") {
        std::ostringstream out;
        prometheus::TextSerializer().Serialize(out, registry_->Collect());
        Reply(request, status_codes::OK, "text/plain; version=0.0.4; charset=utf-8", out.str());
      } else if (path == "/healthz") {
        Reply(request, status_codes::OK, "text/plain", "ok\n");
      } else if (path == "/readyz") {
        bool ready = handlers_.ready && handlers_.ready();
        Reply(request, ready ? status_codes::OK : status_codes::ServiceUnavailable, "text/plain",
              ready ? "ready\n" : "not ready: the first pod list has not synced yet\n");
      } else if (path == "/status" && handlers_.status) {
        Reply(request, status_codes::OK, "application/json", handlers_.status());
      } else {
        Reply(request, status_codes::NotFound, "text/plain",
              "not found: /metrics, /healthz, /readyz, /status\n");
      }
    });
    listener_->open().wait();
  } catch (const std::exception& e) {
    listener_.reset();
    return absl::UnavailableError(absl::StrCat("cannot listen on ", address_, ": ", e.what()));
  }
  return absl::OkStatus();
}

void HttpServer::Stop() {
  if (listener_ == nullptr) return;
  try {
    listener_->close().wait();
  } catch (const std::exception&) {
  }
  listener_.reset();
}

}  // namespace drover::controller
