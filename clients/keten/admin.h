/* admin — what the `keten admin` commands share (cmd_admin.c, cmd_backup.c). */
#ifndef KETEN_ADMIN_H
#define KETEN_ADMIN_H

/* Where `keten admin` looks for ketend's config when --config is not given
 * (read only if it exists). */
#define ADMIN_DEFAULT_CONFIG "/etc/keten/ketend.conf"

/* Fills in *store_path (and *root_path when need_root) that the command
 * line left NULL from ketend's config file: config_path (--config), else
 * ADMIN_DEFAULT_CONFIG when it exists. The file is read with ketend's own
 * parser (config_load_file), so it means to keten admin what it means to
 * ketend. What the command line gave wins. Returns 0, or prints why and
 * returns the exit code. */
int admin_paths(const char *config_path, const char **store_path,
                const char **root_path, int need_root);

int cmd_admin_backup(int argc, char **argv);  /* cmd_backup.c */
int cmd_admin_migrate(int argc, char **argv); /* cmd_backup.c */

#endif
