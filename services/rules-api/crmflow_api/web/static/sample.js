// The event data of a test, pointed at a real patient of the practice. Pure: no DOM, no fetch.

/** A copy of ``data`` whose patient is ``patient``, with the ids that refer to it set to match. */
export function withPatient(data, patient) {
  const out = structuredClone(data ?? {});
  out.patient = patient;
  for (const key of ["appointment", "message"]) {
    if (out[key] && typeof out[key] === "object") out[key].patientId = patient.id;
  }
  return out;
}
