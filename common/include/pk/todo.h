/**
 * @file pk/todo.h
 * @brief The marker that a skeleton function is still the student's to write.
 *
 * Every exercise function in a skeleton (chapters/NN-topic/\*.c) starts out as
 * @code
 *     int thing_do(...)
 *     {
 *         PK_TODO("walk the array and ...");
 *         return -1;
 *     }
 * @endcode
 * PK_TODO() prints the task once per call site on stderr, so a failing test
 * also tells the student which function is unwritten, and sets
 * `errno = ENOSYS` ("function not implemented"). The function then returns
 * its error value. Delete both lines when you write the body.
 */
#ifndef PK_TODO_H
#define PK_TODO_H

#include <errno.h>
#include <stdio.h>

/**
 * @brief Report an unwritten exercise and set errno to ENOSYS.
 * @param msg what the student has to do here (a string literal).
 *
 * A statement, not an expression: follow it with the function's error
 * return. The message is printed only the first time each site runs.
 */
#define PK_TODO(msg)                                                        \
    do {                                                                    \
        static int pk_todo_said_;                                           \
        if (!pk_todo_said_) {                                               \
            pk_todo_said_ = 1;                                              \
            fprintf(stderr, "TODO %s:%d %s(): %s\n", __FILE__, __LINE__,    \
                    __func__, (msg));                                       \
        }                                                                   \
        errno = ENOSYS;                                                     \
    } while (0)

#endif /* PK_TODO_H */
