/**
 * What server reflection needs to know about the API's .proto files, read
 * straight from a serialized google.protobuf.FileDescriptorSet: the files by
 * name, the file declaring each symbol, each file's imports and the services.
 * Files are served as the bytes they arrived in, so nothing is re-encoded and
 * no descriptor library is loaded.
 */
import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';
import { AccelError, ErrorCode } from '../errors.js';

/** Field numbers from google/protobuf/descriptor.proto; only those that name or contain declarations. */
const SET_FILE = 1;
const FILE = { name: 1, package: 2, dependency: 3, messageType: 4, enumType: 5, service: 6, extension: 7 } as const;
const MESSAGE = { name: 1, field: 2, nestedType: 3, enumType: 4, extension: 6, oneofDecl: 8 } as const;
const ENUM = { name: 1, value: 2 } as const;
const SERVICE = { name: 1, method: 2 } as const;
/** Fields, oneofs, enum values and methods: each declares a name and nothing the index needs beyond it. */
const LEAF_NAME = 1;

export interface DescriptorFile {
  /** The path it was compiled under, such as "accel/agent/v1/agent.proto". */
  readonly name: string;
  readonly package: string;
  readonly dependencies: readonly string[];
  /** The serialized FileDescriptorProto. */
  readonly bytes: Uint8Array;
}

interface Declarations {
  symbols: string[];
  messages: string[];
  services: string[];
}

export class DescriptorIndex {
  /** Fully-qualified service names, in file order. */
  readonly services: readonly string[];
  readonly #files: ReadonlyMap<string, DescriptorFile>;
  readonly #symbols: ReadonlyMap<string, DescriptorFile>;
  readonly #messages: ReadonlySet<string>;

  private constructor(files: Map<string, DescriptorFile>, symbols: Map<string, DescriptorFile>, messages: Set<string>, services: string[]) {
    this.#files = files;
    this.#symbols = symbols;
    this.#messages = messages;
    this.services = services;
  }

  /**
   * Reads a serialized FileDescriptorSet. It must be complete (every import
   * present) and declare no extensions, since the answers about extensions
   * rest on there being none.
   */
  static parse(set: Uint8Array): DescriptorIndex {
    try {
      return DescriptorIndex.#build(set);
    } catch (err) {
      if (err instanceof AccelError) throw err;
      throw new AccelError(ErrorCode.API_DESCRIPTORS, 'the API descriptor set is not a valid FileDescriptorSet', { cause: err });
    }
  }

  static #build(set: Uint8Array): DescriptorIndex {
    const files = new Map<string, DescriptorFile>();
    const symbols = new Map<string, DescriptorFile>();
    const messages = new Set<string>();
    const services: string[] = [];
    for (const bytes of lengthDelimited(set).get(SET_FILE) ?? []) {
      const fields = lengthDelimited(bytes);
      const file: DescriptorFile = {
        name: requiredName(fields, FILE.name, 'a file'),
        package: lastString(fields, FILE.package),
        dependencies: strings(fields, FILE.dependency),
        bytes,
      };
      if (files.has(file.name)) invalid(`the API descriptor set holds ${file.name} twice`);
      if (fields.has(FILE.extension)) invalid(`${file.name} declares extensions, which the API does not serve`);
      files.set(file.name, file);
      const found = declarations(fields, file);
      for (const symbol of found.symbols) {
        const other = symbols.get(symbol);
        if (other !== undefined) invalid(`${symbol} is declared in both ${other.name} and ${file.name}`);
        symbols.set(symbol, file);
      }
      found.messages.forEach((m) => messages.add(m));
      services.push(...found.services);
    }
    if (files.size === 0) invalid('the API descriptor set holds no files');
    for (const file of files.values()) {
      const missing = file.dependencies.find((d) => !files.has(d));
      if (missing !== undefined) invalid(`${file.name} imports ${missing}, which the API descriptor set lacks`);
    }
    return new DescriptorIndex(files, symbols, messages, services);
  }

  file(name: string): DescriptorFile | undefined {
    return this.#files.get(name);
  }

  /**
   * The file declaring a fully-qualified symbol: a message, enum, enum value,
   * service, method, field or oneof, written without a leading dot.
   */
  fileContainingSymbol(symbol: string): DescriptorFile | undefined {
    return this.#symbols.get(symbol);
  }

  isMessage(symbol: string): boolean {
    return this.#messages.has(symbol);
  }

  /** The file first, then everything it imports, directly or not, each file once. */
  withDependencies(file: DescriptorFile): DescriptorFile[] {
    const seen = new Set<string>([file.name]);
    const out = [file];
    for (let i = 0; i < out.length; i++) {
      for (const dep of out[i]!.dependencies) {
        if (seen.has(dep)) continue;
        seen.add(dep);
        // Present: parse() refuses a set with a missing import.
        out.push(this.#files.get(dep)!);
      }
    }
    return out;
  }
}

function declarations(fields: Map<number, Uint8Array[]>, file: DescriptorFile): Declarations {
  const found: Declarations = { symbols: [], messages: [], services: [] };
  for (const message of fields.get(FILE.messageType) ?? []) addMessage(message, file.package, file, found);
  for (const en of fields.get(FILE.enumType) ?? []) addEnum(en, file.package, file, found);
  for (const service of fields.get(FILE.service) ?? []) {
    const serviceFields = lengthDelimited(service);
    const name = qualify(file.package, requiredName(serviceFields, SERVICE.name, `a service in ${file.name}`));
    found.symbols.push(name, ...leafNames(serviceFields, SERVICE.method, name, file));
    found.services.push(name);
  }
  return found;
}

function addMessage(bytes: Uint8Array, scope: string, file: DescriptorFile, found: Declarations): void {
  const fields = lengthDelimited(bytes);
  const name = qualify(scope, requiredName(fields, MESSAGE.name, `a message in ${file.name}`));
  if (fields.has(MESSAGE.extension)) invalid(`${name} declares extensions, which the API does not serve`);
  found.symbols.push(name, ...leafNames(fields, MESSAGE.field, name, file), ...leafNames(fields, MESSAGE.oneofDecl, name, file));
  found.messages.push(name);
  for (const nested of fields.get(MESSAGE.nestedType) ?? []) addMessage(nested, name, file, found);
  for (const en of fields.get(MESSAGE.enumType) ?? []) addEnum(en, name, file, found);
}

/** Enum values live in the scope enclosing their enum, as in C++: pkg.VALUE, not pkg.Enum.VALUE. */
function addEnum(bytes: Uint8Array, scope: string, file: DescriptorFile, found: Declarations): void {
  const fields = lengthDelimited(bytes);
  found.symbols.push(qualify(scope, requiredName(fields, ENUM.name, `an enum in ${file.name}`)), ...leafNames(fields, ENUM.value, scope, file));
}

function leafNames(fields: Map<number, Uint8Array[]>, field: number, scope: string, file: DescriptorFile): string[] {
  return (fields.get(field) ?? []).map((leaf) => qualify(scope, requiredName(lengthDelimited(leaf), LEAF_NAME, `a declaration in ${scope} (${file.name})`)));
}

function qualify(scope: string, name: string): string {
  return scope === '' ? name : `${scope}.${name}`;
}

/**
 * The length-delimited fields of a message (strings, bytes and embedded
 * messages), by field number; other wire types are skipped. The reader's own
 * length handling would accept a length that wraps negative and step
 * backwards, so lengths are checked here.
 */
function lengthDelimited(message: Uint8Array): Map<number, Uint8Array[]> {
  const byField = new Map<number, Uint8Array[]>();
  const reader = new BinaryReader(message);
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (wireType !== WireType.LengthDelimited) {
      reader.skip(wireType, field);
      continue;
    }
    const length = reader.uint32();
    if (length < 0 || length > reader.len - reader.pos) throw new RangeError(`field ${field} claims ${length} bytes, beyond the end of its message`);
    const values = byField.get(field) ?? [];
    values.push(message.subarray(reader.pos, reader.pos + length));
    byField.set(field, values);
    reader.pos += length;
  }
  return byField;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function strings(fields: Map<number, Uint8Array[]>, field: number): string[] {
  return (fields.get(field) ?? []).map((v) => utf8.decode(v));
}

/** A singular field repeated on the wire means its last value, as protobuf parsers agree. */
function lastString(fields: Map<number, Uint8Array[]>, field: number): string {
  return strings(fields, field).at(-1) ?? '';
}

function requiredName(fields: Map<number, Uint8Array[]>, field: number, what: string): string {
  const name = lastString(fields, field);
  if (name === '') invalid(`${what} has no name`);
  return name;
}

function invalid(message: string): never {
  throw new AccelError(ErrorCode.API_DESCRIPTORS, message);
}
