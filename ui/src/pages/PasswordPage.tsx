/**
 * Change my password (every user): current, new and confirm. The server ends every session of the user
 * (and opens a fresh one for this browser); the UI then logs out of that one too and shows the login page
 * with a message, so the new password is what gets the user back in.
 */
import { useState, type FormEvent } from "react";
import { api, setCsrfToken } from "../api";
import { useSession } from "../auth";
import { Field, FormError, formErrors, noErrors, type FormErrors } from "../components/Field";

const MIN = 8;

export function PasswordPage() {
  const { user, endSession } = useSession();
  const [current, setCurrent] = useState("");
  const [password, setPassword] = useState("");
  const [confirm, setConfirm] = useState("");
  const [errors, setErrors] = useState<FormErrors>(noErrors);
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const local: Record<string, string> = {};
    if (password.length < MIN) local["password"] = `must be at least ${MIN} characters`;
    if (confirm !== password) local["confirm"] = "does not match the new password";
    if (Object.keys(local).length) {
      setErrors({ fields: local, general: null });
      return;
    }
    setBusy(true);
    setErrors(noErrors);
    try {
      const r = await api.changePassword(current, password);
      setCsrfToken(r.csrfToken);
      // every other session is gone; end this browser's new one too, so the user logs in with the new password
      await api.logout().catch(() => undefined);
      endSession("Your password was changed and every session of yours was ended. Log in with your new password.");
    } catch (err) {
      setErrors(formErrors(err, ["current", "password"]));
      setBusy(false);
    }
  };

  return (
    <div className="page narrow">
      <h2>Change my password</h2>
      <form className="card" onSubmit={(e) => void submit(e)} aria-label="Change my password">
        <p className="muted small">
          Logged in as {user.username}. Changing the password logs you out everywhere, this browser included.
        </p>
        <Field label="Current password" error={errors.fields["current"]}>
          <input name="current-password" type="password" autoComplete="current-password" required value={current} onChange={(e) => setCurrent(e.target.value)} />
        </Field>
        <Field label="New password" error={errors.fields["password"]}>
          <input name="new-password" type="password" autoComplete="new-password" required value={password} onChange={(e) => setPassword(e.target.value)} />
        </Field>
        <Field label="Confirm the new password" error={errors.fields["confirm"]}>
          <input name="confirm-password" type="password" autoComplete="new-password" required value={confirm} onChange={(e) => setConfirm(e.target.value)} />
        </Field>
        <FormError errors={errors} />
        <div className="actions">
          <button type="submit" className="primary" disabled={busy}>
            Change password
          </button>
        </div>
      </form>
    </div>
  );
}
