"""Reference loop: decode a video and run MediaPipe pose on every frame, nothing else.

The floor any video-to-mocap tool built on MediaPipe pays; `posemoe capture` is timed against it:
    python benchmarks/bare_mediapipe.py VIDEO
"""

from __future__ import annotations

import sys

import cv2
import mediapipe as mp


def main(path: str) -> int:
    cap = cv2.VideoCapture(path)
    n = 0
    with mp.solutions.pose.Pose(static_image_mode=False, model_complexity=1) as pose:
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            pose.process(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
            n += 1
    cap.release()
    print(n)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
