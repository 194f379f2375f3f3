package streamgate

// Version is the release this module belongs to: the server and the four clients share one
// version (docs/releasing.md), and the module's tag is clients/go/v<Version>.
const Version = "0.1.0"
