// The scripts' side of the conversation with the Go tests (integration/node_clients_test.go).
//
// The test writes the script's input as one JSON line on stdin. A script that needs the
// test to act (a browser sign-in, say) prints one JSON line {"step": "<name>", ...} and
// reads the test's answer as the next JSON line on stdin (ask), or goes on without one
// (tell) when it learns the outcome its own way (device polling). At the end the script
// prints one line {"step": "result", ...}, or {"step": "error", ...} and exits 1.
//
// Nothing printed carries a token or a secret, except where a step has to hand the test a
// URL the library built (the end-session URL carries the id_token_hint): the test must not
// log such a URL.
import readline from 'node:readline';

const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity })[Symbol.asyncIterator]();

// nextLine returns the next JSON line the test wrote on stdin.
async function nextLine(what) {
  const { value, done } = await lines.next();
  if (done) {
    throw new Error(`stdin closed while waiting for ${what}`);
  }
  return JSON.parse(value);
}

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

// tell prints a step the test acts on without answering (the script goes on meanwhile).
export function tell(step, fields) {
  emit({ step, ...fields });
}

// ask prints a step and returns the test's answer to it.
export async function ask(step, fields) {
  emit({ step, ...fields });
  return nextLine(`the answer to step ${step}`);
}

// describeError keeps what tells a reader what went wrong (the library's error class, code
// and message, the OAuth error and its description, the HTTP status) and leaves out the
// library's `cause`, which can hold a whole response body and so a token.
export function describeError(err) {
  const out = { error_class: err?.constructor?.name ?? typeof err, message: String(err?.message ?? err) };
  for (const key of ['code', 'error', 'error_description', 'status']) {
    if (err?.[key] !== undefined && typeof err[key] !== 'object') {
      out[key] = err[key];
    }
  }
  if (err?.cause instanceof Error) {
    out.cause_message = String(err.cause.message);
  }
  return out;
}

// expectFailure runs fn, which must throw, and describes what it threw; a success is
// reported as {"succeeded": true} so the test sees it.
export async function expectFailure(fn) {
  try {
    await fn();
    return { succeeded: true };
  } catch (err) {
    return describeError(err);
  }
}

// main reads the input line, runs the script's body with it and prints its result.
export async function main(body) {
  try {
    const input = await nextLine('the input');
    const result = await body(input);
    emit({ step: 'result', ...result });
    process.exit(0);
  } catch (err) {
    emit({ step: 'error', ...describeError(err) });
    process.exit(1);
  }
}

// pick copies the named fields that obj has: what a script reports of a library's answer.
export function pick(obj, keys) {
  return Object.fromEntries(keys.filter((k) => obj?.[k] !== undefined).map((k) => [k, obj[k]]));
}
