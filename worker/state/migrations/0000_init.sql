CREATE TABLE `events` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`at` integer NOT NULL,
	`level` text NOT NULL,
	`kind` text NOT NULL,
	`message` text NOT NULL
);
--> statement-breakpoint
CREATE TABLE `peers` (
	`id` text PRIMARY KEY NOT NULL,
	`url` text NOT NULL,
	`name` text,
	`added_at` integer NOT NULL,
	`addresses` text,
	`remote_site` text,
	`last_seen_at` integer,
	`last_sync_at` integer,
	`last_error` text,
	`failures` integer DEFAULT 0 NOT NULL,
	`pushed_seq` integer DEFAULT 0 NOT NULL,
	`pulled_seq` integer DEFAULT 0 NOT NULL,
	`remote_seq` integer DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `peers_url_unique` ON `peers` (`url`);--> statement-breakpoint
CREATE TABLE `settings` (
	`key` text PRIMARY KEY NOT NULL,
	`value` text NOT NULL
);
--> statement-breakpoint
CREATE TABLE `site` (
	`key` text PRIMARY KEY NOT NULL,
	`site_id` text NOT NULL,
	`created_at` integer NOT NULL
);
