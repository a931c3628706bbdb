import { requestText } from "/static/webhook.js";
import { equal } from "/js/assert.js";

export const tests = {
  "the signed request reads as HTTP: request line, headers, blank line, pretty JSON body"() {
    const text = requestText({
      method: "POST",
      url: "https://hooks.example/x",
      headers: { "content-type": "application/json", "webhook-id": "msg_1", "webhook-signature": "v1,abc=" },
      body: '{"a":1}',
    });
    equal(
      text,
      'POST https://hooks.example/x\ncontent-type: application/json\nwebhook-id: msg_1\nwebhook-signature: v1,abc=\n\n{\n  "a": 1\n}',
    );
  },
  "a body that is not JSON is shown as it is"() {
    equal(requestText({ url: "https://h/", headers: {}, body: "plain" }), "POST https://h/\n\nplain");
  },
};
