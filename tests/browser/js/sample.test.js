import { withPatient } from "/static/sample.js";
import { deepEqual, equal } from "/js/assert.js";

export const tests = {
  "the patient and every id that refers to it are replaced"() {
    const sample = fixtures.triggers.find((t) => t.name === "crm/appointment.created").sampleData;
    const patient = { id: "p-real", firstName: "Real" };
    const out = withPatient(sample, patient);
    deepEqual(out.patient, patient);
    equal(out.appointment.patientId, "p-real");
    equal(sample.appointment.patientId === "p-real", false, "the input is not changed");
  },
  "data without an appointment or message gets just the patient"() {
    deepEqual(withPatient({ changes: {} }, { id: "p" }), { changes: {}, patient: { id: "p" } });
  },
};
