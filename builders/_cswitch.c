/* Optional compiled inner loop of BL-CS top-1 code-switching (builders/codeswitch.py, issue #19).

   `top1` does for one text what CodeSwitcher._tokens (fast tokenizer) + CodeSwitcher._switch_top1 do, with the
   same tokens, matches, draws and output: the Python code stays the reference (and the fallback when this module
   is not built); tests/test_codeswitch_accel.py compares the two. Without it a token costs about ten C-level list
   passes plus the Python glue around them; here it is one scan and one or two dict lookups. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* Mersenne Twister as CPython's _randommodule.c has it, so that random.Random(seed).random() draws come out the
   same (tests check it), without a Python object and call per passage and per draw. init_by_array starts from
   init_genrand(19650218), the same for every seed: computed once. */
#define MT_N 624
#define MT_M 397
static uint32_t MT_BASE[MT_N];

typedef struct { uint32_t mt[MT_N]; int index; } MT;

static void mt_base_init(void) {
    MT_BASE[0] = 19650218U;
    for (int i = 1; i < MT_N; i++) MT_BASE[i] = 1812433253U * (MT_BASE[i - 1] ^ (MT_BASE[i - 1] >> 30)) + (uint32_t)i;
}

/* random.Random(seed) for 0 <= seed < 2**64: the key is seed's 32-bit words, least significant first */
static void mt_seed(MT *r, unsigned long long seed) {
    uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    int key_length = (seed >> 32) ? 2 : 1;
    uint32_t *mt = r->mt;
    memcpy(mt, MT_BASE, sizeof MT_BASE);
    int i = 1, j = 0;
    for (int k = MT_N > key_length ? MT_N : key_length; k; k--) {
        mt[i] = (mt[i] ^ ((mt[i - 1] ^ (mt[i - 1] >> 30)) * 1664525U)) + key[j] + (uint32_t)j;
        i++; j++;
        if (i >= MT_N) { mt[0] = mt[MT_N - 1]; i = 1; }
        if (j >= key_length) j = 0;
    }
    for (int k = MT_N - 1; k; k--) {
        mt[i] = (mt[i] ^ ((mt[i - 1] ^ (mt[i - 1] >> 30)) * 1566083941U)) - (uint32_t)i;
        i++;
        if (i >= MT_N) { mt[0] = mt[MT_N - 1]; i = 1; }
    }
    mt[0] = 0x80000000U;
    r->index = MT_N;
}

static uint32_t mt_next(MT *r) {
    static const uint32_t mag01[2] = {0x0U, 0x9908b0dfU};
    uint32_t *mt = r->mt, y;
    if (r->index >= MT_N) {
        int kk;
        for (kk = 0; kk < MT_N - MT_M; kk++) {
            y = (mt[kk] & 0x80000000U) | (mt[kk + 1] & 0x7fffffffU);
            mt[kk] = mt[kk + MT_M] ^ (y >> 1) ^ mag01[y & 0x1U];
        }
        for (; kk < MT_N - 1; kk++) {
            y = (mt[kk] & 0x80000000U) | (mt[kk + 1] & 0x7fffffffU);
            mt[kk] = mt[kk + (MT_M - MT_N)] ^ (y >> 1) ^ mag01[y & 0x1U];
        }
        y = (mt[MT_N - 1] & 0x80000000U) | (mt[0] & 0x7fffffffU);
        mt[MT_N - 1] = mt[MT_M - 1] ^ (y >> 1) ^ mag01[y & 0x1U];
        r->index = 0;
    }
    y = mt[r->index++];
    y ^= (y >> 11);
    y ^= (y << 7) & 0x9d2c5680U;
    y ^= (y << 15) & 0xefc60000U;
    y ^= (y >> 18);
    return y;
}

static double mt_random(MT *r) {  /* random.Random.random: 53 bits from two outputs */
    uint32_t a = mt_next(r) >> 5, b = mt_next(r) >> 6;
    return (a * 67108864.0 + b) * (1.0 / 9007199254740992.0);
}

/* seeded from seed_of(key) (an int in [0, 2**64)); 0 on success */
static int mt_seed_from(MT *r, PyObject *seed_of, PyObject *key) {
    PyObject *seed = PyObject_CallOneArg(seed_of, key);
    if (!seed) return -1;
    unsigned long long s = PyLong_AsUnsignedLongLong(seed);
    Py_DECREF(seed);
    if (s == (unsigned long long)-1 && PyErr_Occurred()) return -1;
    mt_seed(r, s);
    return 0;
}

typedef struct {
    Py_ssize_t n, cap;
    Py_ssize_t *start, *end, *span;
    PyObject **low;      /* owned: lower-cased token */
    PyObject **targets;  /* borrowed from the lexicon tables (alive for the call) */
    PyObject **seconds;  /* borrowed: the second words of the entries of 2+ words that start with this token */
} Tokens;

static void tokens_free(Tokens *t) {
    for (Py_ssize_t i = 0; i < t->n; i++) Py_DECREF(t->low[i]);
    PyMem_Free(t->start); PyMem_Free(t->end); PyMem_Free(t->span); PyMem_Free(t->low); PyMem_Free(t->targets);
    PyMem_Free(t->seconds);
}

static int tokens_push(Tokens *t, Py_ssize_t s, Py_ssize_t e, PyObject *low /* stolen */) {
    if (t->n == t->cap) {
        Py_ssize_t cap = t->cap ? 2 * t->cap : 64;
        Py_ssize_t *a = PyMem_Realloc(t->start, cap * sizeof(Py_ssize_t));
        if (a) t->start = a;
        Py_ssize_t *b = a ? PyMem_Realloc(t->end, cap * sizeof(Py_ssize_t)) : NULL;
        if (b) t->end = b;
        PyObject **c = b ? PyMem_Realloc(t->low, cap * sizeof(PyObject *)) : NULL;
        if (c) t->low = c;
        if (!c) { Py_DECREF(low); PyErr_NoMemory(); return -1; }
        t->cap = cap;
    }
    t->start[t->n] = s; t->end[t->n] = e; t->low[t->n] = low; t->n++;
    return 0;
}

/* [^\W_] of Python's re for str patterns is Py_UNICODE_ISALNUM */
static inline int word_char(Py_UCS4 c) {
    if (c < 128) return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    return Py_UNICODE_ISALNUM(c);
}

static inline int apostrophe(Py_UCS4 c) { return c == '\'' || c == 0x2019; }

/* The content tokens of `text` as CodeSwitcher._tokens gives them for the fast tokenizer when text.lower() keeps
   the length: _FAST_RE spans, clitics split by the Python `clitics` (WORD_RE + is_content) inside spans with an
   apostrophe, number tokens dropped. */
static int tokenize(PyObject *text, PyObject *low, PyObject *clitics, Tokens *t) {
    int kind = PyUnicode_KIND(text), lkind = PyUnicode_KIND(low);
    const void *data = PyUnicode_DATA(text), *ldata = PyUnicode_DATA(low);
    Py_ssize_t len = PyUnicode_GET_LENGTH(text), i = 0;
    while (i < len) {
        if (!word_char(PyUnicode_READ(kind, data, i))) { i++; continue; }
        Py_ssize_t s = i;
        int apos = 0;
        while (i < len && word_char(PyUnicode_READ(kind, data, i))) i++;
        while (i + 1 < len) {
            Py_UCS4 c = PyUnicode_READ(kind, data, i);
            if (!(c == '-' || apostrophe(c)) || !word_char(PyUnicode_READ(kind, data, i + 1))) break;
            apos |= apostrophe(c);
            i++;
            while (i < len && word_char(PyUnicode_READ(kind, data, i))) i++;
        }
        Py_ssize_t e = i;
        if (apos) {
            PyObject *span = PyUnicode_Substring(text, s, e);
            if (!span) return -1;
            PyObject *parts = PyObject_CallOneArg(clitics, span);
            Py_DECREF(span);
            if (!parts) return -1;
            if (!PyList_Check(parts)) { Py_DECREF(parts); PyErr_SetString(PyExc_TypeError, "clitics must return a list"); return -1; }
            for (Py_ssize_t k = 0; k < PyList_GET_SIZE(parts); k++) {
                Py_ssize_t ps, pe;
                PyObject *w;
                if (!PyArg_ParseTuple(PyList_GET_ITEM(parts, k), "nnU", &ps, &pe, &w)) { Py_DECREF(parts); return -1; }
                Py_INCREF(w);
                if (tokens_push(t, s + ps, s + pe, w) < 0) { Py_DECREF(parts); return -1; }
            }
            Py_DECREF(parts);
            continue;
        }
        if (Py_UNICODE_ISDIGIT(PyUnicode_READ(lkind, ldata, s))) {  /* tok[0].isdigit() and tok.replace("-", "").isdigit() */
            Py_ssize_t k = s + 1;
            while (k < e) {
                Py_UCS4 c = PyUnicode_READ(lkind, ldata, k);
                if (c != '-' && !Py_UNICODE_ISDIGIT(c)) break;
                k++;
            }
            if (k == e) continue;
        }
        PyObject *w = PyUnicode_Substring(low, s, e);
        if (!w || tokens_push(t, s, e, w) < 0) return -1;
    }
    return 0;
}

/* gap and not gap.isspace(), gap = text[a:b] */
static inline int hard_gap(int kind, const void *data, Py_ssize_t a, Py_ssize_t b) {
    for (Py_ssize_t k = a; k < b; k++)
        if (!Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, k))) return 1;
    return 0;
}

static inline int node_parts(PyObject *node, PyObject **targets, PyObject **children) {
    if (!PyTuple_Check(node) || PyTuple_GET_SIZE(node) != 2 || !PyDict_Check(PyTuple_GET_ITEM(node, 1))) {
        PyErr_SetString(PyExc_TypeError, "trie nodes must be (targets or None, dict)");
        return -1;
    }
    *targets = PyTuple_GET_ITEM(node, 0); *children = PyTuple_GET_ITEM(node, 1);
    return 0;
}

/* targets (a non-empty list) or NULL for "no match"; -1 on error */
static inline int truthy_targets(PyObject *v, PyObject **out) {
    *out = NULL;
    if (v == NULL || v == Py_None) return 0;
    int r = PyObject_IsTrue(v);
    if (r < 0) return -1;
    if (r) *out = v;
    return 0;
}

/* Longest entry at token i (CodeSwitcher._longest): words separated by whitespace only. */
static int longest(Tokens *t, int kind, const void *data, Py_ssize_t i, PyObject *node) {
    Py_ssize_t j = i + 1, n = t->n;
    for (;;) {
        if (hard_gap(kind, data, t->end[j - 1], t->start[j])) break;
        PyObject *tg, *children;
        if (node_parts(node, &tg, &children) < 0) return -1;
        if (tg != Py_None) { t->targets[i] = tg; t->span[i] = j - i + 1; }
        j++;
        if (j >= n) break;
        node = PyDict_GetItemWithError(children, t->low[j]);
        if (!node) { if (PyErr_Occurred()) return -1; break; }
    }
    return 0;
}

static PyObject *first_target(PyObject *targets) {
    if (PyList_Check(targets)) { PyObject *c = PyList_GET_ITEM(targets, 0); Py_INCREF(c); return c; }
    return PySequence_GetItem(targets, 0);
}

/* top1(text, low, heads, p, key, seed_of, clitics) -> (text, switched, content tokens, covered)

   heads[word] = (targets of the one-word entry or None, {second word: trie node} or None): the lexicon table
   (CodeSwitcher._Table) keyed so that a token costs one lookup, and a token pair one more only where an entry of
   2+ words starts with the token. heads None: only count the content tokens (the side is not switched). The RNG
   is seeded when the first draw is needed, with seed_of(key): the draws of random.Random(seed_of(key)), which is
   rng_for(*key). */
static PyObject *top1(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 7) { PyErr_SetString(PyExc_TypeError, "top1 takes 7 arguments"); return NULL; }
    PyObject *text = args[0], *low = args[1], *heads = args[2], *key = args[4], *seed_of = args[5], *clitics = args[6];
    if (!PyUnicode_Check(text) || !PyUnicode_Check(low) || PyUnicode_GET_LENGTH(text) != PyUnicode_GET_LENGTH(low)) {
        PyErr_SetString(PyExc_ValueError, "top1: text and low must be str of the same length");
        return NULL;
    }
    double p = PyFloat_AsDouble(args[3]);
    if (p == -1.0 && PyErr_Occurred()) return NULL;
    Tokens t = {0};
    PyObject *result = NULL, *pieces = NULL;
    MT rng;
    int seeded = 0;
    if (tokenize(text, low, clitics, &t) < 0) goto done;
    Py_ssize_t n = t.n;
    if (heads == Py_None || n == 0 || p == 0.0) { result = Py_BuildValue("Onnn", text, (Py_ssize_t)0, n, (Py_ssize_t)0); goto done; }
    if (!PyDict_Check(heads)) { PyErr_SetString(PyExc_TypeError, "top1: heads must be a dict"); goto done; }
    t.span = PyMem_Malloc(n * sizeof(Py_ssize_t));
    t.targets = PyMem_Malloc(n * sizeof(PyObject *));
    t.seconds = PyMem_Malloc(n * sizeof(PyObject *));
    if (!t.span || !t.targets || !t.seconds) { PyErr_NoMemory(); goto done; }
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    for (Py_ssize_t i = 0; i < n; i++) {
        t.span[i] = 1; t.targets[i] = NULL; t.seconds[i] = NULL;
        PyObject *v = PyDict_GetItemWithError(heads, t.low[i]);
        if (!v) { if (PyErr_Occurred()) goto done; continue; }
        if (!PyTuple_Check(v) || PyTuple_GET_SIZE(v) != 2) { PyErr_SetString(PyExc_TypeError, "heads values must be pairs"); goto done; }
        if (truthy_targets(PyTuple_GET_ITEM(v, 0), &t.targets[i]) < 0) goto done;
        PyObject *sec = PyTuple_GET_ITEM(v, 1);
        if (sec != Py_None) {
            if (!PyDict_Check(sec)) { PyErr_SetString(PyExc_TypeError, "heads: second words must be a dict"); goto done; }
            t.seconds[i] = sec;
        }
    }
    for (Py_ssize_t i = 0; i + 1 < n; i++) {  /* pairs.get((w[i], w[i+1])), then the trie walk */
        if (!t.seconds[i]) continue;
        PyObject *node = PyDict_GetItemWithError(t.seconds[i], t.low[i + 1]);
        if (!node) { if (PyErr_Occurred()) goto done; continue; }
        if (longest(&t, kind, data, i, node) < 0) goto done;
    }
    /* Left to right over the matches: one draw each (p < 1), a switched match covers its span. */
    Py_ssize_t switched = 0, covered = 0, free_at = 0, last = 0, len = PyUnicode_GET_LENGTH(text);
    for (Py_ssize_t i = 0; i < n; i++) {
        if (i < free_at || !t.targets[i]) continue;
        if (p < 1.0) {
            if (!seeded) {
                if (mt_seed_from(&rng, seed_of, key) < 0) goto done;
                seeded = 1;
            }
            if (!(p > mt_random(&rng))) { covered++; continue; }
        }
        Py_ssize_t m = t.span[i];
        if (!pieces && !(pieces = PyList_New(0))) goto done;
        PyObject *gap = PyUnicode_Substring(text, last, t.start[i]);
        if (!gap) goto done;
        int rc = PyList_Append(pieces, gap);
        Py_DECREF(gap);
        if (rc < 0) goto done;
        PyObject *choice = first_target(t.targets[i]);
        if (!choice) goto done;
        rc = PyList_Append(pieces, choice);
        Py_DECREF(choice);
        if (rc < 0) goto done;
        last = t.end[i + m - 1];
        switched += m; covered += m; free_at = i + m;
    }
    if (!switched) { result = Py_BuildValue("Onnn", text, (Py_ssize_t)0, n, covered); goto done; }
    PyObject *tail = PyUnicode_Substring(text, last, len);
    if (!tail) goto done;
    int rc = PyList_Append(pieces, tail);
    Py_DECREF(tail);
    if (rc < 0) goto done;
    PyObject *empty = PyUnicode_New(0, 0);
    if (!empty) goto done;
    PyObject *out = PyUnicode_Join(empty, pieces);
    Py_DECREF(empty);
    if (!out) goto done;
    result = Py_BuildValue("Nnnn", out, switched, n, covered);
done:
    Py_XDECREF(pieces);
    tokens_free(&t);
    return result;
}

/* draws(seed, k) -> the first k random.Random(seed).random() values, from the MT above (for the tests) */
static PyObject *draws(PyObject *self, PyObject *args) {
    unsigned long long seed;
    Py_ssize_t k;
    if (!PyArg_ParseTuple(args, "Kn", &seed, &k)) return NULL;
    if (k < 0) { PyErr_SetString(PyExc_ValueError, "draws: k must be >= 0"); return NULL; }
    MT r;
    mt_seed(&r, seed);
    PyObject *out = PyList_New(k);
    for (Py_ssize_t i = 0; out && i < k; i++) {
        PyObject *x = PyFloat_FromDouble(mt_random(&r));
        if (!x) { Py_CLEAR(out); break; }
        PyList_SET_ITEM(out, i, x);
    }
    return out;
}

static PyMethodDef methods[] = {
    {"top1", (PyCFunction)(void (*)(void))top1, METH_FASTCALL, "BL-CS top-1 switching of one text (see the module)."},
    {"draws", draws, METH_VARARGS, "The first k random.Random(seed).random() values, 0 <= seed < 2**64."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_cswitch", NULL, -1, methods};

PyMODINIT_FUNC PyInit__cswitch(void) {
    mt_base_init();
    return PyModule_Create(&module);
}
