/**
 * The bits of PostgreSQL's frontend/backend protocol (v3) the embedded server reads and writes:
 * framing of the frontend's messages, the backend's startup and error messages, and the walk over a
 * backend's answer (its ReadyForQuery status, its notifications). https://www.postgresql.org/docs/current/protocol-message-formats.html
 */

export const PROTOCOL_V3 = 196_608;
export const SSL_REQUEST = 80_877_103;
export const GSS_REQUEST = 80_877_104;
export const CANCEL_REQUEST = 80_877_102;

/** A frontend message: its type byte and the whole message (type, length, body). */
export interface FrontendMessage {
  type: string;
  bytes: Buffer;
}

/** Splits complete typed messages off `buffer`; returns them and what is left (an incomplete message). */
export function splitMessages(buffer: Buffer): { messages: FrontendMessage[]; rest: Buffer } {
  const messages: FrontendMessage[] = [];
  let at = 0;
  while (buffer.length - at >= 5) {
    const length = buffer.readInt32BE(at + 1);
    if (length < 4) throw new Error(`malformed message (length ${length})`);
    if (buffer.length - at < 1 + length) break;
    messages.push({ type: String.fromCharCode(buffer[at]!), bytes: buffer.subarray(at, at + 1 + length) });
    at += 1 + length;
  }
  return { messages, rest: at === 0 ? buffer : buffer.subarray(at) };
}

/** A NUL-terminated string at `at`: the string and the offset after its NUL. */
export function cString(buf: Buffer, at: number): [string, number] {
  const end = buf.indexOf(0, at);
  if (end < 0) throw new Error('malformed message (unterminated string)');
  return [buf.toString('utf8', at, end), end + 1];
}

/** The startup message's parameters (user, database, application_name, options…). */
export function startupParameters(msg: Buffer): Record<string, string> {
  const params: Record<string, string> = {};
  let at = 8;
  while (at < msg.length && msg[at] !== 0) {
    const [key, next] = cString(msg, at);
    const [value, after] = cString(msg, next);
    params[key] = value;
    at = after;
  }
  return params;
}

function message(type: string, body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.write(type, 0, 'latin1');
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}

const int32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
};
const str = (s: string): Buffer => Buffer.from(`${s}\0`, 'utf8');

export const backend = {
  authenticationOk: () => message('R', int32(0)),
  authenticationCleartextPassword: () => message('R', int32(3)),
  parameterStatus: (name: string, value: string) => message('S', Buffer.concat([str(name), str(value)])),
  backendKeyData: (pid: number, secret: number) => message('K', Buffer.concat([int32(pid), int32(secret)])),
  readyForQuery: (status: 'I' | 'T' | 'E') => message('Z', Buffer.from(status, 'latin1')),
  /** An ErrorResponse: severity, SQLSTATE, message. */
  error: (severity: 'ERROR' | 'FATAL', code: string, text: string) =>
    message('E', Buffer.concat([Buffer.from('S'), str(severity), Buffer.from('V'), str(severity), Buffer.from('C'), str(code), Buffer.from('M'), str(text), Buffer.from([0])])),
  notification: (pid: number, channel: string, payload: string) => message('A', Buffer.concat([int32(pid), str(channel), str(payload)])),
};

/** The frontend's Query message. */
export function queryMessage(text: string): Buffer {
  return message('Q', str(text));
}

/** A frontend Close of a prepared statement ('S') or portal ('P'). */
export function closeMessage(kind: 'S' | 'P', name: string): Buffer {
  return message('C', Buffer.concat([Buffer.from(kind, 'latin1'), str(name)]));
}

export function syncMessage(): Buffer {
  return message('S', Buffer.alloc(0));
}

/** What the embedded server needs from a backend's answer. */
export interface BackendAnswer {
  /** The answer without the notifications (they are routed to the listening connections). */
  data: Buffer;
  /** The status of the last ReadyForQuery ('I' idle, 'T' in a transaction, 'E' in a failed transaction), if there was one. */
  status?: 'I' | 'T' | 'E';
  notifications: { pid: number; channel: string; payload: string }[];
  /** The first ErrorResponse's SQLSTATE and message, if any. */
  error?: { code: string; message: string };
}

/** Walks the backend's messages in `data`. */
export function readAnswer(raw: Uint8Array): BackendAnswer {
  const data = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
  const answer: BackendAnswer = { data, notifications: [] };
  let kept: Buffer[] | undefined;
  let keptFrom = 0;
  let at = 0;
  while (data.length - at >= 5) {
    const type = data[at]!;
    const length = data.readInt32BE(at + 1);
    const end = at + 1 + length;
    if (type === 0x5a /* Z */) answer.status = String.fromCharCode(data[at + 5]!) as 'I' | 'T' | 'E';
    else if (type === 0x45 /* E */ && !answer.error) {
      const fields: Record<string, string> = {};
      let f = at + 5;
      while (f < end && data[f] !== 0) {
        const [value, next] = cString(data, f + 1);
        fields[String.fromCharCode(data[f]!)] = value;
        f = next;
      }
      answer.error = { code: fields.C ?? '', message: fields.M ?? '' };
    } else if (type === 0x41 /* A */) {
      const pid = data.readInt32BE(at + 5);
      const [channel, next] = cString(data, at + 9);
      const [payload] = cString(data, next);
      answer.notifications.push({ pid, channel, payload });
      (kept ??= []).push(data.subarray(keptFrom, at));
      keptFrom = end;
    }
    at = end;
  }
  if (kept) {
    kept.push(data.subarray(keptFrom));
    answer.data = Buffer.concat(kept);
  }
  return answer;
}
