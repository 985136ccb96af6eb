CREATE TABLE "ingest_cursors" (
	"source" text PRIMARY KEY NOT NULL,
	"position" bigint NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "pii_read_statements" (
	"event_id" bigint PRIMARY KEY NOT NULL,
	"statement" text,
	"statement_sha256" text NOT NULL,
	"pruned_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "pii_read_statements" ADD CONSTRAINT "pii_read_statements_event_id_audit_events_id_fk" FOREIGN KEY ("event_id") REFERENCES "public"."audit_events"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "audit_events_actor" ON "audit_events" USING btree ("actor","id");--> statement-breakpoint
CREATE INDEX "audit_events_dataset" ON "audit_events" USING btree ("dataset","id");--> statement-breakpoint
CREATE INDEX "audit_events_request" ON "audit_events" USING btree ("request_id","id");--> statement-breakpoint
CREATE INDEX "audit_events_at" ON "audit_events" USING btree ("at");