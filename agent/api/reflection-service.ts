/**
 * gRPC server reflection over a DescriptorIndex: how grpcurl and similar
 * tools learn the API without its .proto files. Served as grpc.reflection.v1
 * and under its older name grpc.reflection.v1alpha, which some clients still
 * ask for; the two differ in nothing but the name.
 */
import { status, type Server, type ServerDuplexStream } from '@grpc/grpc-js';
import type { DescriptorFile, DescriptorIndex } from './descriptor-index.js';
import {
  ServerReflectionService as ReflectionV1,
  type ServerReflectionRequest,
  type ServerReflectionResponse,
} from './gen/grpc/reflection/v1/reflection.js';
import { ServerReflectionService as ReflectionV1Alpha } from './gen/grpc/reflection/v1alpha/reflection.js';

type Answer = ServerReflectionResponse['messageResponse'];

export class ReflectionService {
  readonly #index: DescriptorIndex;

  constructor(index: DescriptorIndex) {
    this.#index = index;
  }

  addToServer(server: Server): void {
    const serverReflectionInfo = (call: ServerDuplexStream<ServerReflectionRequest, ServerReflectionResponse>) => {
      call.on('data', (request: ServerReflectionRequest) => {
        // A client that sends without reading would otherwise grow the write buffer without bound.
        if (!call.write(reflect(this.#index, request))) {
          call.pause();
          call.once('drain', () => call.resume());
        }
      });
      call.on('end', () => call.end());
    };
    server.addService(ReflectionV1, { serverReflectionInfo });
    server.addService(ReflectionV1Alpha, { serverReflectionInfo });
  }
}

/** The response to one request; failures are answers too, as the protocol has them, and leave the stream open. */
export function reflect(index: DescriptorIndex, request: ServerReflectionRequest): ServerReflectionResponse {
  return { validHost: request.host, originalRequest: request, messageResponse: answer(index, request.messageRequest) };
}

function answer(index: DescriptorIndex, question: ServerReflectionRequest['messageRequest']): Answer {
  switch (question?.$case) {
    case 'listServices':
      return { $case: 'listServicesResponse', value: { service: index.services.map((name) => ({ name })) } };
    case 'fileByFilename':
      return files(index, index.file(question.value), `no file named ${JSON.stringify(question.value)}`);
    case 'fileContainingSymbol':
      return files(index, index.fileContainingSymbol(question.value), `no symbol named ${JSON.stringify(question.value)}`);
    case 'fileContainingExtension': {
      // The index refuses descriptor sets that declare extensions, so there is never one to find.
      const { containingType, extensionNumber } = question.value;
      return failure(status.NOT_FOUND, `no extension ${extensionNumber} of ${JSON.stringify(containingType)}`);
    }
    case 'allExtensionNumbersOfType':
      if (!index.isMessage(question.value)) return failure(status.NOT_FOUND, `no message type named ${JSON.stringify(question.value)}`);
      return { $case: 'allExtensionNumbersResponse', value: { baseTypeName: question.value, extensionNumber: [] } };
    case undefined:
      return failure(status.INVALID_ARGUMENT, 'the request asks for nothing this server knows');
  }
}

function files(index: DescriptorIndex, file: DescriptorFile | undefined, notFound: string): Answer {
  if (file === undefined) return failure(status.NOT_FOUND, notFound);
  const fileDescriptorProto = index.withDependencies(file).map((f) => Buffer.from(f.bytes.buffer, f.bytes.byteOffset, f.bytes.byteLength));
  return { $case: 'fileDescriptorResponse', value: { fileDescriptorProto } };
}

function failure(code: status, errorMessage: string): Answer {
  return { $case: 'errorResponse', value: { errorCode: code, errorMessage } };
}
