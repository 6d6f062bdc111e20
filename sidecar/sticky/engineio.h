// Engine.IO (the transport under Socket.IO) for --sticky=socketio: the sid a server issues in
// its handshake carries the route of the worker that issued it (route_prefix.h), so that every
// later request of the session (polling GET and POST, the WebSocket upgrade) names its worker
// in its `sid` query parameter, from any sidecar, without state in the proxy.
//
//   if (IsEngineIoHandshake(head.target)) ...          // GET /socket.io/?EIO=4&transport=polling
//   std::optional<std::string> body = RouteOpenPacket(response_body, route);
//   // 0{"sid":"Xy12..."...}  ->  0{"sid":"ROUTE~Xy12..."...}
//
// Only the polling handshake is rewritten. A WebSocket-first client (transport=websocket, no
// sid) gets its open packet inside the tunnel and never sends the sid in another request: its
// one connection is its whole session, so it needs no route.
#ifndef DROVER_SIDECAR_STICKY_ENGINEIO_H_
#define DROVER_SIDECAR_STICKY_ENGINEIO_H_

#include <optional>
#include <string>
#include <string_view>

namespace drover::sticky {

// The raw (not percent-decoded) value of query parameter `name` in a request target, or nullopt.
std::optional<std::string_view> QueryParameter(std::string_view target, std::string_view name);

// A polling handshake: an `EIO` parameter, `transport=polling`, and no `sid`.
bool IsEngineIoHandshake(std::string_view target);

// The handshake response body with the open packet's sid prefixed by `route` and '~': EIO 4
// (`0{"sid":...}`, packets separated by 0x1e), EIO 3 text (`96:0{...}`, the length adjusted) and
// EIO 3 binary framing (0x00, length digits, 0xff). nullopt when the body holds no open packet.
std::optional<std::string> RouteOpenPacket(std::string_view body, std::string_view route);

}  // namespace drover::sticky

#endif  // DROVER_SIDECAR_STICKY_ENGINEIO_H_
