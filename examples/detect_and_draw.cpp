// Detect every face in a photo and draw boxes and landmarks on it.
//   detect_and_draw PHOTO OUT.png
#include <facekit/detect/detector.hpp>
#include <facekit/io/draw.hpp>

#include <cstdio>

#include "example_common.hpp"

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: %s PHOTO OUT.png\n", argv[0]);
        return 2;
    }
    try {
        // 1. Load the three MTCNN networks once; a Detector runs them (here on two threads).
        facekit::ThreadPool pool(2);
        facekit::Detector<> detector(facekit::models::MtcnnNets<>::load(models_dir()), {}, &pool);

        // 2. Decode the photo (JPEG, PNG or BMP) and find the faces, largest first.
        facekit::Image photo = facekit::load_image(argv[1]);
        std::vector<facekit::Detection> faces = detector.detect(photo);

        // 3. Report and draw each face: box [x1, y1, x2, y2], probability, 5 landmarks.
        for (const facekit::Detection& f : faces) {
            std::printf("face at (%.0f, %.0f)-(%.0f, %.0f), p = %.4f, left eye at (%.1f, %.1f)\n", f.box[0], f.box[1],
                        f.box[2], f.box[3], f.score, f.landmarks[0].x, f.landmarks[0].y);
            facekit::draw_detection(photo, f);
        }
        facekit::save_png(photo, argv[2]);
        std::printf("%zu face(s); drawn into %s\n", faces.size(), argv[2]);
    } catch (const facekit::Error& e) {  // every facekit error names the file and the problem
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
}
