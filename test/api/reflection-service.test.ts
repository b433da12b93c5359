import { createRequire } from 'node:module';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import protobuf from 'protobufjs';
import descriptor, { type IFileDescriptorProto } from 'protobufjs/ext/descriptor/index.js';
import t, { type Test } from 'tap';
import { DescriptorIndex } from '../../agent/api/descriptor-index.js';
import { API_DESCRIPTOR_SET_BASE64 } from '../../agent/api/gen/descriptors.js';
import type { ServerReflectionRequest, ServerReflectionResponse } from '../../agent/api/gen/grpc/reflection/v1/reflection.js';
import { ReflectionService, reflect } from '../../agent/api/reflection-service.js';
import { socketDir } from '../helpers/unix-sockets.js';

const apiIndex = () => DescriptorIndex.parse(Buffer.from(API_DESCRIPTOR_SET_BASE64, 'base64'));
const ask = (messageRequest: ServerReflectionRequest['messageRequest'], host = '') => reflect(apiIndex(), { host, messageRequest });

/** Names of the files in a response, read with protobufjs rather than our own reader. */
function servedFiles(response: ServerReflectionResponse): string[] {
  const answer = response.messageResponse;
  if (answer?.$case !== 'fileDescriptorResponse') throw new Error(`expected files, got ${JSON.stringify(answer)}`);
  return answer.value.fileDescriptorProto.map((bytes) => String(descriptor.FileDescriptorProto.decode(bytes).toJSON()['name']));
}

function errorOf(response: ServerReflectionResponse) {
  return response.messageResponse?.$case === 'errorResponse' ? response.messageResponse.value : undefined;
}

t.test('list_services names the services in the descriptor set, and the request comes back with the answer', async (t) => {
  const response = ask({ $case: 'listServices', value: '*' }, 'agent.local');
  t.same(response.messageResponse, {
    $case: 'listServicesResponse',
    value: { service: [{ name: 'accel.agent.v1.AgentService' }, { name: 'grpc.health.v1.Health' }] },
  });
  t.equal(response.validHost, 'agent.local');
  t.same(response.originalRequest, { host: 'agent.local', messageRequest: { $case: 'listServices', value: '*' } });
});

t.test('a symbol or a file name is answered with the file declaring it', async (t) => {
  t.same(servedFiles(ask({ $case: 'fileContainingSymbol', value: 'accel.agent.v1.AgentService.GetDevice' })), ['accel/agent/v1/agent.proto']);
  t.same(servedFiles(ask({ $case: 'fileContainingSymbol', value: 'grpc.health.v1.HealthCheckResponse.ServingStatus' })), ['grpc/health/v1/health.proto']);
  t.same(servedFiles(ask({ $case: 'fileByFilename', value: 'grpc/health/v1/health.proto' })), ['grpc/health/v1/health.proto']);
});

t.test('a file is served with its imports, each once, the asked-for file first', async (t) => {
  const set = descriptor.FileDescriptorSet.encode(
    descriptor.FileDescriptorSet.fromObject({
      file: [
        { name: 'base.proto', package: 'p', messageType: [{ name: 'Base' }] },
        { name: 'mid.proto', package: 'p', dependency: ['base.proto'] },
        { name: 'top.proto', package: 'p', dependency: ['mid.proto', 'base.proto'], service: [{ name: 'S' }] },
      ] satisfies IFileDescriptorProto[],
    }),
  ).finish();
  const response = reflect(DescriptorIndex.parse(set), { host: '', messageRequest: { $case: 'fileContainingSymbol', value: 'p.S' } });
  t.same(servedFiles(response), ['top.proto', 'mid.proto', 'base.proto']);
});

t.test('unknown names are NOT_FOUND and the answer names what was asked', async (t) => {
  t.same(errorOf(ask({ $case: 'fileContainingSymbol', value: 'accel.agent.v1.Nope' })), {
    errorCode: grpc.status.NOT_FOUND,
    errorMessage: 'no symbol named "accel.agent.v1.Nope"',
  });
  t.same(errorOf(ask({ $case: 'fileByFilename', value: 'health/v1/health.proto' })), {
    errorCode: grpc.status.NOT_FOUND,
    errorMessage: 'no file named "health/v1/health.proto"',
  });
  t.equal(errorOf(ask({ $case: 'fileContainingSymbol', value: '' }))?.errorCode, grpc.status.NOT_FOUND);
});

t.test('extension queries answer truthfully for a set without extensions', async (t) => {
  t.equal(errorOf(ask({ $case: 'fileContainingExtension', value: { containingType: 'accel.agent.v1.Device', extensionNumber: 100 } }))?.errorCode, grpc.status.NOT_FOUND);
  t.same(ask({ $case: 'allExtensionNumbersOfType', value: 'accel.agent.v1.Device' }).messageResponse, {
    $case: 'allExtensionNumbersResponse',
    value: { baseTypeName: 'accel.agent.v1.Device', extensionNumber: [] },
  });
  t.equal(errorOf(ask({ $case: 'allExtensionNumbersOfType', value: 'accel.agent.v1.Vendor' }))?.errorCode, grpc.status.NOT_FOUND, 'an enum has no extensions to list');
  t.equal(errorOf(ask({ $case: 'allExtensionNumbersOfType', value: 'no.Such' }))?.errorCode, grpc.status.NOT_FOUND);
});

t.test('a request that asks nothing is INVALID_ARGUMENT', async (t) => {
  t.equal(errorOf(ask(undefined, 'h'))?.errorCode, grpc.status.INVALID_ARGUMENT);
});

type Stream = grpc.ClientDuplexStream<object, Record<string, unknown>>;

/** A server with reflection only, and a client of the given version built from @grpc/reflection's own .proto files. */
async function serve(t: Test, version: 'v1' | 'v1alpha'): Promise<Stream> {
  const server = new grpc.Server();
  new ReflectionService(apiIndex()).addToServer(server);
  const address = `unix:${path.join(socketDir(t), 'reflection.sock')}`;
  await new Promise<void>((resolve, reject) => server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())));
  const protoFile = createRequire(import.meta.url).resolve(`@grpc/reflection/build/proto/grpc/reflection/${version}/reflection.proto`);
  const def = grpc.loadPackageDefinition(loadSync(protoFile, { oneofs: true }));
  const pkg = ((def['grpc'] as grpc.GrpcObject)['reflection'] as grpc.GrpcObject)[version] as grpc.GrpcObject;
  const client = new (pkg['ServerReflection'] as grpc.ServiceClientConstructor)(address, grpc.credentials.createInsecure());
  t.teardown(() => {
    client.close();
    server.forceShutdown();
  });
  return (client as unknown as { ServerReflectionInfo(): Stream }).ServerReflectionInfo();
}

/** Sends every request on one stream, then collects every response until the server ends the stream. */
async function exchange(stream: Stream, requests: object[]): Promise<Record<string, unknown>[]> {
  const responses: Record<string, unknown>[] = [];
  stream.on('data', (r: Record<string, unknown>) => responses.push(r));
  const ended = new Promise<void>((resolve, reject) => {
    stream.on('end', resolve);
    stream.on('error', reject);
  });
  for (const r of requests) stream.write(r);
  stream.end();
  await ended;
  return responses;
}

for (const version of ['v1', 'v1alpha'] as const) {
  t.test(`over grpc.reflection.${version}, a stock client finds AgentService and can build it from what is served`, async (t) => {
    const stream = await serve(t, version);
    const responses = await exchange(stream, [
      { listServices: '' },
      { fileContainingSymbol: 'accel.agent.v1.AgentService' },
      { fileContainingSymbol: 'no.Such' },
      { host: 'h' },
      { fileByFilename: 'grpc/health/v1/health.proto' },
    ]);
    t.same(
      responses.map((r) => r['messageResponse']),
      ['listServicesResponse', 'fileDescriptorResponse', 'errorResponse', 'errorResponse', 'fileDescriptorResponse'],
      'one answer per request, in order, on one stream',
    );
    t.match(responses[0], { listServicesResponse: { service: [{ name: 'accel.agent.v1.AgentService' }, { name: 'grpc.health.v1.Health' }] } });
    t.match(responses[2], { errorResponse: { errorCode: grpc.status.NOT_FOUND } });
    t.match(responses[3], { validHost: 'h', errorResponse: { errorCode: grpc.status.INVALID_ARGUMENT } });

    // Decoded and linked by protobufjs, which shares no code with the server's descriptor reading.
    const files = [responses[1], responses[4]].flatMap((r) => (r as { fileDescriptorResponse: { fileDescriptorProto: Buffer[] } }).fileDescriptorResponse.fileDescriptorProto);
    const set = descriptor.FileDescriptorSet.create({ file: files.map((b) => descriptor.FileDescriptorProto.decode(b)) });
    const root = (protobuf.Root as unknown as { fromDescriptor(set: protobuf.Message): protobuf.Root }).fromDescriptor(set);
    root.resolveAll();
    const agent = root.lookupService('accel.agent.v1.AgentService');
    t.same(Object.keys(agent.methods), ['ListDevices', 'GetDevice', 'WatchDevices', 'GetHostInfo']);
    t.equal(agent.methods['WatchDevices']?.responseStream, true);
    t.equal(agent.methods['GetDevice']?.resolvedResponseType?.fullName, '.accel.agent.v1.GetDeviceResponse');
    t.same(Object.keys(root.lookupService('grpc.health.v1.Health').methods), ['Check', 'Watch', 'List']);
    t.same(root.lookupEnum('grpc.health.v1.HealthCheckResponse.ServingStatus').values, { UNKNOWN: 0, SERVING: 1, NOT_SERVING: 2, SERVICE_UNKNOWN: 3 });
  });
}
