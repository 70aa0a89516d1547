CREATE TABLE `files` (
	`path` text PRIMARY KEY NOT NULL,
	`hash` text,
	`size` integer DEFAULT 0 NOT NULL,
	`blocks` text DEFAULT '[]' NOT NULL,
	`vv` text NOT NULL,
	`stamp` text NOT NULL,
	`deleted` integer DEFAULT 0 NOT NULL,
	`seq` integer NOT NULL,
	`origin` text NOT NULL,
	`disk_hash` text,
	`disk_size` integer,
	`disk_mtime_ms` real,
	`source` text,
	`error` text
);
--> statement-breakpoint
CREATE UNIQUE INDEX `files_seq` ON `files` (`seq`);--> statement-breakpoint
CREATE INDEX `files_pending` ON `files` (`path`) WHERE "files"."hash" IS NOT "files"."disk_hash";--> statement-breakpoint
ALTER TABLE `peers` ADD `files_pushed_seq` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `peers` ADD `files_pulled_seq` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `peers` ADD `files_remote_seq` integer DEFAULT 0 NOT NULL;