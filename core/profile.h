/* profile.h — hardware profiles (hw-profiles/NAME.ini): what pce knows about
 * real machines, as data. A profile has [profile] (name, description,
 * priority), [match] (which hosts and devices it applies to) and sections of
 * settings. This module parses and validates one file (inih underneath);
 * every value keeps its file and line so decisions can be explained.
 * Unknown sections or keys, bad values and duplicate sections are errors
 * naming file:line. Matching profiles to a snapshot builds on this. */
#ifndef PCE_PROFILE_H
#define PCE_PROFILE_H

#include "internal.h"

#define PCE_PROFILE_MAX_KEYS 64

/* One key = value as written, with where it was written. */
typedef struct pce_profile_entry {
    char section[24];
    char key[40];
    char value[160];
    int line;
} pce_profile_entry;

typedef struct pce_profile {
    char file[256];
    char name[64];
    char description[160];
    int priority; /* higher wins when several profiles set one key */
    pce_profile_entry entries[PCE_PROFILE_MAX_KEYS];
    int n_entries;
} pce_profile;

/* Parses and validates `text` (named `file` in messages). On error returns
 * PCE_ERR_FORMAT and writes "file:line: what" into err. */
pce_status pce_profile_parse(const char *file, const char *text, pce_profile *out, char *err,
                             size_t cap);
/* Reads and parses a file (PCE_ERR_IO if it cannot be read). */
pce_status pce_profile_load(const char *path, pce_profile *out, char *err, size_t cap);
/* The entry for section.key, or NULL. */
const pce_profile_entry *pce_profile_get(const pce_profile *p, const char *section,
                                         const char *key);

/* "a-b", "a", "<a", "<=a", ">a", ">=a" over dotted versions or numbers:
 * whether v is inside. Returns -1 if the range does not parse. */
int pce_range_contains(const char *range, const char *v);

#endif

/* ---- matching ----------------------------------------------------------- */

struct pce_hw_snapshot;

/* Whether profile p applies to the host in snapshot s and, when dev is not
 * NULL, to that device: every [match] key must hold; a profile with
 * device-level keys never matches the host alone. On a mismatch, why says
 * which key failed ("file:line: cpu_family = 26, this host has 25"). */
bool pce_profile_matches(const pce_profile *p, const struct pce_hw_snapshot *s,
                         const pce_device_facts *dev, char *why, size_t cap);

/* One setting after layering: its value and the profile line that won. */
typedef struct pce_setting {
    const pce_profile_entry *entry;
    const pce_profile *from;
} pce_setting;

/* Layers the settings of the matching profiles (lower priority first, so a
 * higher priority overrides; equal priorities in the given order) and
 * returns the winner for section.key, or {NULL, NULL}. */
pce_setting pce_profiles_resolve(const pce_profile *const *matched, int n, const char *section,
                                 const char *key);
