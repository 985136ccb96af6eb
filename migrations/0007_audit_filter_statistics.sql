-- The auditor's filters combine columns that are far from independent (a dataset appears with a
-- few actions only; an analyst with some actions more than others). Without these statistics the
-- planner multiplies selectivities, expects matches, and walks the id index newest-first until it
-- has a page: for a combination with no rows at all that is the whole table. With them it knows
-- which combinations exist and picks the index intersection instead.
CREATE STATISTICS audit_events_action_dataset (mcv, dependencies) ON action, dataset FROM audit_events;
--> statement-breakpoint
CREATE STATISTICS audit_events_subject_action (mcv, dependencies) ON subject, action FROM audit_events;
--> statement-breakpoint
CREATE STATISTICS audit_events_actor_action (mcv, dependencies) ON actor, action FROM audit_events;
