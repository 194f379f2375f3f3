/** The generated message schemas and service descriptors, for direct use with @connectrpc/connect. */
export * from "./gen/streamgate/v1/fetch_pb.js";
export * from "./gen/streamgate/v1/lock_pb.js";
export * from "./gen/streamgate/v1/sensor_pb.js";
