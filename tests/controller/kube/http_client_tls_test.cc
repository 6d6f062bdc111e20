// The cpprestsdk client over TLS against an in-test OpenSSL server on 127.0.0.1:0, with a CA,
// server and client certificates made here: the configured CA bundle is what is trusted,
// insecure-skip-tls-verify skips the check, and a client certificate is presented (mutual TLS,
// as kind and kubeadm kubeconfigs use).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "controller/kube/http_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace drover::kube {
namespace {

struct Identity {
  EVP_PKEY* key = nullptr;
  X509* cert = nullptr;
  std::string key_pem;
  std::string cert_pem;
  ~Identity() {
    X509_free(cert);
    EVP_PKEY_free(key);
  }
};

std::string Pem(const std::function<int(BIO*)>& write) {
  BIO* bio = BIO_new(BIO_s_mem());
  write(bio);
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(size));
  BIO_free(bio);
  return out;
}

void AddExtension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

// A certificate for `cn`, signed by `issuer` (self-signed when null).
std::unique_ptr<Identity> MakeIdentity(const char* cn, const Identity* issuer, bool ca,
                                       const char* san = nullptr) {
  auto id = std::make_unique<Identity>();
  id->key = EVP_EC_gen("P-256");
  id->cert = X509_new();
  static int serial = 1;
  X509_set_version(id->cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(id->cert), serial++);
  X509_gmtime_adj(X509_getm_notBefore(id->cert), -3600);
  X509_gmtime_adj(X509_getm_notAfter(id->cert), 86400);
  X509_set_pubkey(id->cert, id->key);
  X509_NAME_add_entry_by_txt(X509_get_subject_name(id->cert), "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn), -1, -1, 0);
  X509* issuer_cert = issuer != nullptr ? issuer->cert : id->cert;
  X509_set_issuer_name(id->cert, X509_get_subject_name(issuer_cert));
  if (ca) {
    AddExtension(id->cert, issuer_cert, NID_basic_constraints, "critical,CA:TRUE");
    AddExtension(id->cert, issuer_cert, NID_key_usage, "critical,keyCertSign,cRLSign");
  }
  if (san != nullptr) AddExtension(id->cert, issuer_cert, NID_subject_alt_name, san);
  X509_sign(id->cert, issuer != nullptr ? issuer->key : id->key, EVP_sha256());
  id->cert_pem = Pem([&](BIO* b) { return PEM_write_bio_X509(b, id->cert); });
  id->key_pem = Pem([&](BIO* b) {
    return PEM_write_bio_PrivateKey(b, id->key, nullptr, nullptr, 0, nullptr, nullptr);
  });
  return id;
}

// Answers every TLS connection with 200 and the client certificate's CN as the body.
class TlsServer {
 public:
  TlsServer(const Identity& server, const Identity* client_ca) {
    ctx_ = SSL_CTX_new(TLS_server_method());
    SSL_CTX_use_certificate(ctx_, server.cert);
    SSL_CTX_use_PrivateKey(ctx_, server.key);
    if (client_ca != nullptr) {
      X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx_), client_ca->cert);
      SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    }
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || listen(fd_, 16) != 0 ||
        getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      std::abort();
    }
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~TlsServer() {
    shutdown(fd_, SHUT_RDWR);
    thread_.join();
    close(fd_);
    SSL_CTX_free(ctx_);
  }
  std::string url() const { return absl::StrCat("https://127.0.0.1:", port_); }
  int handshakes() const {
    absl::MutexLock lock(&mu_);
    return handshakes_;
  }

 private:
  void Serve() {
    while (true) {
      const int conn = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (conn < 0) return;
      SSL* ssl = SSL_new(ctx_);
      SSL_set_fd(ssl, conn);
      if (SSL_accept(ssl) == 1) {
        {
          absl::MutexLock lock(&mu_);
          ++handshakes_;
        }
        std::string head;
        char buf[4096];
        while (head.find("\r\n\r\n") == std::string::npos) {
          const int n = SSL_read(ssl, buf, sizeof(buf));
          if (n <= 0) break;
          head.append(buf, static_cast<size_t>(n));
        }
        std::string cn = "none";
        if (X509* peer = SSL_get1_peer_certificate(ssl)) {
          char name[256] = {};
          X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, name,
                                    sizeof(name));
          cn = name;
          X509_free(peer);
        }
        const std::string response = absl::StrCat(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ", cn.size(),
            "\r\nConnection: close\r\n\r\n", cn);
        SSL_write(ssl, response.data(), static_cast<int>(response.size()));
        SSL_shutdown(ssl);
      }
      ERR_clear_error();
      SSL_free(ssl);
      close(conn);
    }
  }

  SSL_CTX* ctx_ = nullptr;
  int fd_ = -1;
  int port_ = 0;
  std::thread thread_;
  mutable absl::Mutex mu_;
  int handshakes_ ABSL_GUARDED_BY(mu_) = 0;
};

class HttpClientTlsTest : public ::testing::Test {
 protected:
  HttpClientTlsTest()
      : ca_(MakeIdentity("drover-test-ca", nullptr, true)),
        other_ca_(MakeIdentity("someone-else", nullptr, true)),
        server_(MakeIdentity("apiserver", ca_.get(), false, "IP:127.0.0.1,DNS:localhost")),
        user_(MakeIdentity("drover-test-user", ca_.get(), false)) {}

  absl::StatusOr<std::string> Get(const KubeClientConfig& config) {
    absl::StatusOr<std::unique_ptr<KubeClient>> client = NewKubeClient(config);
    if (!client.ok()) return client.status();
    return (*client)->Get("/version");
  }

  std::unique_ptr<Identity> ca_, other_ca_, server_, user_;
};

TEST_F(HttpClientTlsTest, TrustsTheConfiguredCa) {
  TlsServer tls(*server_, nullptr);
  KubeClientConfig config;
  config.server = tls.url();
  config.ca_pem = absl::StrCat(other_ca_->cert_pem, ca_->cert_pem);  // a bundle of two
  absl::StatusOr<std::string> body = Get(config);
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_EQ(*body, "none");
}

TEST_F(HttpClientTlsTest, RejectsAServerTheCaDidNotSign) {
  TlsServer tls(*server_, nullptr);
  KubeClientConfig config;
  config.server = tls.url();
  config.ca_pem = other_ca_->cert_pem;
  const absl::Status s = Get(config).status();
  EXPECT_TRUE(absl::IsUnavailable(s)) << s;
  config.ca_pem = "";  // the system roots do not know the test CA either
  EXPECT_TRUE(absl::IsUnavailable(Get(config).status()));
}

TEST_F(HttpClientTlsTest, InsecureSkipsVerification) {
  TlsServer tls(*server_, nullptr);
  KubeClientConfig config;
  config.server = tls.url();
  config.insecure_skip_tls_verify = true;
  absl::StatusOr<std::string> body = Get(config);
  EXPECT_TRUE(body.ok()) << body.status();
}

// Mutual TLS: the client certificate from the config is presented.
TEST_F(HttpClientTlsTest, PresentsTheClientCertificate) {
  TlsServer tls(*server_, ca_.get());
  KubeClientConfig config;
  config.server = tls.url();
  config.ca_pem = ca_->cert_pem;
  config.client_certificate_pem = user_->cert_pem;
  config.client_key_pem = user_->key_pem;
  absl::StatusOr<std::string> body = Get(config);
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_EQ(*body, "drover-test-user");

  config.client_certificate_pem = "";
  config.client_key_pem = "";
  EXPECT_FALSE(Get(config).ok());
}

TEST_F(HttpClientTlsTest, MismatchedKeyFailsAtCreation) {
  KubeClientConfig config;
  config.server = "https://127.0.0.1:1";
  config.client_certificate_pem = user_->cert_pem;
  config.client_key_pem = server_->key_pem;
  absl::StatusOr<std::unique_ptr<KubeClient>> client = NewKubeClient(config);
  ASSERT_FALSE(client.ok());
  EXPECT_THAT(client.status().message(), ::testing::HasSubstr("client key"));
  EXPECT_THAT(client.status().message(), ::testing::HasSubstr("https://127.0.0.1:1"));
}

}  // namespace
}  // namespace drover::kube
