/* mel_dump.c - runs ab_logmel over a file of raw float32 samples and writes the frames as raw float32,
 * for tests/test_mel_reference.py.
 *
 *   mel_dump IN.f32 OUT.f32 rate=16000 n_fft=400 hop=160 n_mels=80 [fmin=HZ] [fmax=HZ] [floor=X]
 *            [scale=htk|slaney] [spectrum=power|magnitude] [norm=none|slaney]
 *            [window=hann|hamming|rect] [log=db|ln|none] [filters=PATH]
 *
 * OUT gets n_frames * n_mels native-endian float32 values, frame after frame; filters=PATH writes the
 * filterbank as n_mels * (n_fft / 2 + 1) native-endian float64 values. The input is pushed in blocks
 * of changing sizes, so the streaming path is what is measured. Exit 0 on success, 2 on bad usage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audiobus/ab_mel.h"

typedef struct {
    FILE *out;
    size_t n_mels;
    size_t frames;
    int failed;
} dump_t;

static void s_write_frame(const float *mels, uint64_t start, void *user)
{
    (void)start;
    dump_t *d = user;
    if (fwrite(mels, sizeof(float), d->n_mels, d->out) != d->n_mels)
        d->failed = 1;
    d->frames++;
}

/* The index of text in names (NULL-terminated), or -1. */
static int s_choice(const char *text, const char *const *names)
{
    for (int i = 0; names[i]; i++)
        if (strcmp(text, names[i]) == 0)
            return i;
    return -1;
}

static int s_usage(const char *why)
{
    fprintf(stderr,
            "mel_dump: %s\nusage: mel_dump IN.f32 OUT.f32 rate=HZ n_fft=N hop=N n_mels=N [fmin=HZ] "
            "[fmax=HZ] [floor=X] [scale=htk|slaney] [spectrum=power|magnitude] [norm=none|slaney] "
            "[window=hann|hamming|rect] [log=db|ln|none] [filters=PATH]\n",
            why);
    return 2;
}

int main(int argc, char **argv)
{
    static const char *const scales[] = {"htk", "slaney", NULL};
    static const char *const spectra[] = {"power", "magnitude", NULL};
    static const char *const norms[] = {"none", "slaney", NULL};
    static const char *const windows[] = {"hann", "hamming", "rect", NULL};
    static const char *const logs[] = {"db", "ln", "none", NULL};
    if (argc < 3)
        return s_usage("missing file names");
    ab_logmel_config_t cfg = {0};
    const char *filters = NULL;
    for (int i = 3; i < argc; i++) {
        char *eq = strchr(argv[i], '=');
        if (!eq)
            return s_usage(argv[i]);
        *eq = '\0';
        const char *key = argv[i], *value = eq + 1;
        int choice = 0;
        if (strcmp(key, "rate") == 0)
            cfg.rate = (uint32_t)strtoul(value, NULL, 10);
        else if (strcmp(key, "n_fft") == 0)
            cfg.n_fft = (uint32_t)strtoul(value, NULL, 10);
        else if (strcmp(key, "hop") == 0)
            cfg.hop = (uint32_t)strtoul(value, NULL, 10);
        else if (strcmp(key, "n_mels") == 0)
            cfg.n_mels = (uint32_t)strtoul(value, NULL, 10);
        else if (strcmp(key, "fmin") == 0)
            cfg.fmin = strtof(value, NULL);
        else if (strcmp(key, "fmax") == 0)
            cfg.fmax = strtof(value, NULL);
        else if (strcmp(key, "floor") == 0)
            cfg.floor = strtof(value, NULL);
        else if (strcmp(key, "scale") == 0 && (choice = s_choice(value, scales)) >= 0)
            cfg.scale = (ab_mel_scale_t)choice;
        else if (strcmp(key, "spectrum") == 0 && (choice = s_choice(value, spectra)) >= 0)
            cfg.spectrum = (ab_mel_spectrum_t)choice;
        else if (strcmp(key, "norm") == 0 && (choice = s_choice(value, norms)) >= 0)
            cfg.norm = (ab_mel_norm_t)choice;
        else if (strcmp(key, "window") == 0 && (choice = s_choice(value, windows)) >= 0)
            cfg.window = (ab_mel_window_t)choice;
        else if (strcmp(key, "log") == 0 && (choice = s_choice(value, logs)) >= 0)
            cfg.log = (ab_mel_log_t)choice;
        else if (strcmp(key, "filters") == 0)
            filters = value;
        else
            return s_usage(key);
    }
    ab_logmel_t *mel = ab_logmel_new(&cfg);
    if (!mel)
        return s_usage("ab_logmel_new refused the configuration");

    FILE *in = fopen(argv[1], "rb");
    if (!in) {
        perror(argv[1]);
        return 1;
    }
    fseek(in, 0, SEEK_END);
    long bytes = ftell(in);
    fseek(in, 0, SEEK_SET);
    size_t n = bytes > 0 ? (size_t)bytes / sizeof(float) : 0;
    float *x = malloc((n ? n : 1) * sizeof(float));
    if (!x || fread(x, sizeof(float), n, in) != n) {
        fprintf(stderr, "mel_dump: cannot read %zu samples from %s\n", n, argv[1]);
        return 1;
    }
    fclose(in);

    dump_t d = {.out = fopen(argv[2], "wb"), .n_mels = cfg.n_mels};
    if (!d.out) {
        perror(argv[2]);
        return 1;
    }
    static const size_t sizes[] = {1, 160, 1023, 7, 4096, 333};
    size_t done = 0;
    for (size_t i = 0; done < n; i++) {
        size_t b = sizes[i % (sizeof sizes / sizeof sizes[0])];
        if (b > n - done)
            b = n - done;
        ab_logmel_push(mel, x + done, b, s_write_frame, &d);
        done += b;
    }
    if (fclose(d.out) != 0 || d.failed) {
        fprintf(stderr, "mel_dump: cannot write %s\n", argv[2]);
        return 1;
    }

    if (filters) {
        size_t count = (size_t)cfg.n_mels * (cfg.n_fft / 2 + 1);
        double *w = malloc(count * sizeof(double));
        FILE *f = fopen(filters, "wb");
        if (!w || !f || ab_logmel_filterbank(mel, w, count) != 0 ||
            fwrite(w, sizeof(double), count, f) != count || fclose(f) != 0) {
            fprintf(stderr, "mel_dump: cannot write the filterbank to %s\n", filters);
            return 1;
        }
        free(w);
    }
    printf("%zu frames\n", d.frames);
    free(x);
    ab_logmel_destroy(&mel);
    return 0;
}
