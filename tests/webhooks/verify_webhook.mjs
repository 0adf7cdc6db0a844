// Verifies one webhook delivery with the standardwebhooks npm package (the
// Standard Webhooks reference implementation), independently of the
// service's own signing code. Used by tests/testing/standard_webhooks.cc.
//
//   echo '{"secret":"whsec_...","headers":{"webhook-id":"msg_1",
//          "webhook-timestamp":"1764657600","webhook-signature":"v1,..."},
//          "body":"{\"to\":\"+8613800138000\"}"}' | node verify_webhook.mjs
//
// Prints `verified` and exits 0 if the signature is valid; else prints the
// library's error message to stderr and exits 1 (2 if the input is not the
// JSON object above).
import { Webhook } from "standardwebhooks";

let input = "";
process.stdin.setEncoding("utf8");
for await (const chunk of process.stdin) input += chunk;

let request;
try {
  request = JSON.parse(input);
  if (typeof request.secret !== "string" || typeof request.body !== "string" ||
      typeof request.headers !== "object" || request.headers === null) {
    throw new Error("want {secret: string, headers: object, body: string}");
  }
} catch (error) {
  console.error(`verify_webhook: bad input: ${error.message}`);
  process.exit(2);
}

try {
  new Webhook(request.secret).verify(request.body, request.headers);
} catch (error) {
  console.error(error.message);
  process.exit(1);
}
console.log("verified");
