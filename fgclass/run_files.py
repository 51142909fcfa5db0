"""The names of the files a run folder holds, in one place for the code that writes and reads them."""

RUN_CONFIG_FILE = "run_config.yaml"  # the resolved config (fgclass.eval rebuilds the data from it)
SPLITS_FILE = "splits.csv"  # path,label,split,group of every image
CHECKPOINT_DIR = "checkpoints"
LAST_CHECKPOINT = "last.ckpt"
ERROR_FILE = "error.txt"  # why a run failed (a sweep report lists it)
METRICS_FILE = "metrics.json"  # the test numbers, and under PROTOCOL_KEY how they were made
PROTOCOL_KEY = "protocol"
NOISE_FILE = "noise_robustness.csv"
PREDICTIONS_FILE = "predictions.csv"
CLASSIFICATION_REPORT = "classification_report"  # .csv and .md
CONFUSION_FILE = "confusion_matrix.csv"
CONFUSIONS_FILE = "confusions.csv"  # the most frequent mistakes: true, predicted, count (any class count)
GRADCAM_DIR = "gradcam"
LR_FIND_PLOT = "lr_find.png"
