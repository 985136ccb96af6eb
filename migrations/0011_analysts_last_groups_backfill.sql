-- The groups of each analyst's latest sign-in used to be read back out of the access log (the
-- `groups` of their last `login` or `gate.refused` event); they now live on the analysts row.
-- Carry over what the log says, so a pending request is judged the same way after the upgrade.
UPDATE analysts a
   SET last_groups = (SELECT e.details->'groups' FROM audit_events e
                       WHERE e.subject = a.username AND e.action IN ('login', 'gate.refused')
                       ORDER BY e.id DESC LIMIT 1)
 WHERE a.last_groups IS NULL;
