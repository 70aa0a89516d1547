DROP INDEX `files_pending`;--> statement-breakpoint
ALTER TABLE `files` ADD `dir` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
CREATE INDEX `files_pending` ON `files` (`path`) WHERE (CASE WHEN "files"."dir" = 1 AND "files"."deleted" = 0 THEN 'dir' ELSE "files"."hash" END) IS NOT "files"."disk_hash";