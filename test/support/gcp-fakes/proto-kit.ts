import * as protoLoader from '@grpc/proto-loader';
import { protobuf } from 'google-gax';

/**
 * What an in-process fake needs from a client package's own `protos.json`: the gRPC service
 * definitions (messages decoded camelCase, enums and int64 as strings, unset fields absent) and
 * `pack`, which wraps a message in a google.protobuf.Any (for long-running operation metadata).
 */
export function protoKit(protos: object) {
  const root = protobuf.Root.fromJSON(protos as Parameters<typeof protobuf.Root.fromJSON>[0]);
  const definition = protoLoader.fromJSON(protos as Parameters<typeof protoLoader.fromJSON>[0], {
    keepCase: false,
    longs: String,
    enums: String,
    defaults: false,
    oneofs: false,
  });
  const pack = (type: string, value: object) => {
    const t = root.lookupType(type);
    return { typeUrl: `type.googleapis.com/${type}`, value: Buffer.from(t.encode(t.fromObject(value)).finish()) };
  };
  return { definition, pack };
}
