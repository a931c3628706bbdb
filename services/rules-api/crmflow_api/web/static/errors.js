// Placing the API's 422 errors next to the form element they concern. Pure: no DOM.
// A loc such as ["body", "actionsJson", 1, "args", "subject"] becomes the key
// "actionsJson.1.args.subject"; form elements carry such keys in data-loc. An error lands on the
// element with the longest key that prefixes its loc (a value error deep inside a JSON list lands
// on the list's textarea; an error about the whole list lands on the list).

export function locKey(loc) {
  const parts = loc?.[0] === "body" ? loc.slice(1) : (loc ?? []);
  return parts.join(".");
}

/** ``[{key, msg}]``: ``key`` is the nearest element's key for which ``hasTarget`` is true, or null. */
export function placeErrors(detail, hasTarget) {
  return detail.map((error) => {
    const parts = locKey(error.loc).split(".").filter((part) => part !== "");
    for (let n = parts.length; n > 0; n -= 1) {
      const key = parts.slice(0, n).join(".");
      if (hasTarget(key)) return { key, msg: error.msg };
    }
    return { key: null, msg: error.msg, where: locKey(error.loc) };
  });
}
